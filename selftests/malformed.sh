#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Malformed packets are counted as invalid once and never create an entry;
# with drop_invalid=1 they are dropped.
#
# Topology: namespaces A and B joined by a veth pair (fixed MACs, IPv4 and
# IPv6).  rct_pkt (rct_pkt.c) writes crafted frames on A's end with an
# AF_PACKET socket: valid IP headers, broken transport headers, so B's IP
# stack hands them to PRE_ROUTING.  All checks look at B.
#
# For each malformed kind, IPv4 and IPv6: N packets, B's `invalid` grows by
# exactly N, no entry is created.  Fragments are not malformed: they are
# reassembled before tracking, so incomplete ones are never seen at all.  B answers a SYN+FIN (well-formed headers)
# with a RST that no entry covers; B's own LOCAL_OUT counts that one as
# invalid too (as nf_conntrack does), so each RST B sent (Tcp OutRsts) is
# added to the expected count.
#
# Controls (the packets really reach the hook, so the checks can fail):
# valid SYNs and datagrams create one entry each and nothing invalid.
#
# drop_invalid: only 0 and 1 are accepted, only from the initial netns; at 1
# malformed packets are still counted but dropped at PRE_ROUTING: B's UDP
# (InErrors) and TCP (OutRsts) never see them, while valid traffic still
# creates entries.  drop_invalid is set back to 0 on exit.
#
# log_invalid: at 1, each invalid packet logs "rconntrack: invalid packet:
# REASON" (net_ratelimit'ed: at least one line, at most one per packet); at
# 0 (the default) none.  Set back to 0 on exit.

source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip

rct_require_pkt
PKT=$RCT_PKT

N=5
NCTL=3
MAC_A=02:00:00:0a:00:01
MAC_B=02:00:00:0a:00:02
A4=10.10.0.1
A4_2=10.10.0.3
B4=10.10.0.2
A6=2001:db8:10::1
A6_2=2001:db8:10::3
B6=2001:db8:10::2
DROP=/proc/sys/net/rconntrack/drop_invalid
LOG=/proc/sys/net/rconntrack/log_invalid
MALFORMED="tcp-trunc tcp-doff-short tcp-doff-long tcp-synfin udp-badlen udp-shortlen"

loaded_here=0
T=/proc/sys/net/rconntrack
cleanup() {
	[ -e $DROP ] && echo 0 > $DROP
	[ -e $LOG ] && echo 0 > $LOG
	[ -n "${old_close:-}" ] && echo "$old_close" > $T/tcp_timeout_close
	[ -n "${old_udp:-}" ] && echo "$old_udp" > $T/udp_timeout
	cleanup_all_ns
	[ $loaded_here = 1 ] && rct_unload
}
trap cleanup EXIT

[ -d /sys/module/rconntrack ] || loaded_here=1
rct_load || { rct_fail "insmod"; rct_exit; }
# Control entries must not expire while the counts are compared.
old_close=$(cat $T/tcp_timeout_close) old_udp=$(cat $T/udp_timeout)
echo 600 > $T/tcp_timeout_close
echo 600 > $T/udp_timeout

setup_ns A B || { rct_fail "netns setup"; rct_exit; }
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" link set dev va address $MAC_A
ip -n "$B" link set dev vb address $MAC_B
ip -n "$A" addr add $A4/24 dev va
ip -n "$A" addr add $A4_2/24 dev va
ip -n "$B" addr add $B4/24 dev vb
ip -n "$A" addr add $A6/64 dev va nodad
ip -n "$A" addr add $A6_2/64 dev va nodad
ip -n "$B" addr add $B6/64 dev vb nodad
ip -n "$A" link set va up
ip -n "$B" link set vb up
# Fragments that never complete wait in B's reassembly queues; their
# timeout would send an ICMP time exceeded (an error about no known flow,
# counted invalid) in the middle of later checks: none expires here.
ip netns exec "$B" sysctl -qw net.ipv4.ipfrag_time=600 net.netfilter.nf_conntrack_frag6_timeout=600 ||
	rct_fail "B's reassembly timeouts"
link_up() { ip -n "$B" link show vb | grep -q LOWER_UP; }
busywait 5000 link_up || { rct_fail "veth did not come up"; rct_exit; }

# snap: B's counters now, in S_INV S_NEW S_CNT S_RST S_UDPERR4 S_UDPERR6
# S_IN4 S_IN6.
snap() {
	local names vals i
	# Three reads (the stat file, snmp, snmp6), parsed in bash and one awk
	# each: this runs twice per case, and every process costs under TCG.
	S_INV=0 S_NEW=0 S_CNT=0
	{
		read -r -a names
		while read -r -a vals; do
			for i in "${!names[@]}"; do
				case ${names[$i]} in
				invalid) S_INV=$((S_INV + 0x${vals[$i]})) ;;
				new) S_NEW=$((S_NEW + 0x${vals[$i]})) ;;
				# The namespace's count, the same on every CPU's line.
				entries) S_CNT=$((0x${vals[$i]})) ;;
				esac
			done
		done
	} < <(rct_ns_cat "$B" /proc/net/stat/rconntrack)
	# /proc/net/snmp: a header line, then a value line, per protocol.
	read -r S_RST S_UDPERR4 S_IN4 < <(rct_ns_cat "$B" /proc/net/snmp | awk '
		{ if (seen[$1]++) { for (i = 2; i <= NF; i++) v[$1 h[$1, i]] = $i }
		  else { for (i = 2; i <= NF; i++) h[$1, i] = $i } }
		END { print v["Tcp:OutRsts"] + 0, v["Udp:InErrors"] + 0, v["Ip:InReceives"] + 0 }')
	read -r S_UDPERR6 S_IN6 < <(rct_ns_cat "$B" /proc/net/snmp6 |
		awk '{ v[$1] = $2 } END { print v["Udp6InErrors"] + 0, v["Ip6InReceives"] + 0 }')
}

# send FAMILY KIND N [SRC]: N packets of KIND from A to B.
send() {
	local src dst

	if [ "$1" = 4 ]; then
		src=${4:-$A4} dst=$B4
	else
		src=${4:-$A6} dst=$B6
	fi
	"$PKT" -N "$A" va $MAC_B "$src" "$dst" "$2" "$3"
}

# grown STAT BASE N: B's STAT is at least BASE + N.
grown() {
	[ $(($(rct_stat "$1" "$B") - $2)) -ge "$3" ]
}

# run_kind FAMILY KIND N [SRC]: send, wait for B to process, set D_* (the
# growth of each snap counter).  WAIT_FOR (invalid or new) is the counter
# that must grow by N before the last sample.
run_kind() {
	local inv new cnt rst ue4 ue6 in4 in6 base

	snap
	inv=$S_INV new=$S_NEW cnt=$S_CNT rst=$S_RST
	ue4=$S_UDPERR4 ue6=$S_UDPERR6 in4=$S_IN4 in6=$S_IN6
	send "$@" || { rct_fail "IPv$1 $2: rct_pkt failed"; return 1; }
	if [ "$WAIT_FOR" = new ]; then base=$new; else base=$inv; fi
	if ! busywait 3000 grown "$WAIT_FOR" "$base" "$3"; then
		rct_fail "IPv$1 $2 x$3: B's $WAIT_FOR did not grow by $3 within 3 s ($base -> $(rct_stat "$WAIT_FOR" "$B"))"
	fi
	# Anything more (a second count, an answer from B) shows up by now.
	sleep 0.3
	snap
	D_INV=$((S_INV - inv)) D_NEW=$((S_NEW - new)) D_CNT=$((S_CNT - cnt))
	D_RST=$((S_RST - rst))
	# shellcheck disable=SC2034 # read as D_UDPERR$fam, D_IN$fam
	D_UDPERR4=$((S_UDPERR4 - ue4)) D_UDPERR6=$((S_UDPERR6 - ue6))
	# shellcheck disable=SC2034
	D_IN4=$((S_IN4 - in4)) D_IN6=$((S_IN6 - in6))
}

rct_stat invalid "$B" > /dev/null || { rct_fail "no invalid column in /proc/net/stat/rconntrack"; rct_exit; }
[ "$(rct_count "$B")" = 0 ] || rct_log "B starts with $(rct_count "$B") entries"

# 1. Malformed packets: counted once, no entry (drop_invalid=0).
echo 0 > $DROP || rct_fail "drop_invalid=0"
WAIT_FOR=invalid
for fam in 4 6; do
	for kind in $MALFORMED; do
		run_kind $fam $kind $N || continue
		exp=$((N + D_RST))
		what="IPv$fam $kind x$N: invalid +$D_INV (want $exp), new +$D_NEW, count +$D_CNT (want 0)"
		[ $D_RST -gt 0 ] && what="$what ($D_RST RSTs from B)"
		if [ $D_INV -eq $exp ] && [ $D_NEW -eq 0 ] && [ $D_CNT -eq 0 ]; then
			rct_pass "$what"
		else
			rct_fail "$what"
		fi
		# Accepted: B's UDP saw them (what drop_invalid=1 must prevent).
		if [ $kind = udp-badlen ]; then
			v=D_UDPERR$fam ue=${!v}
			rct_check "IPv$fam $kind accepted: B's UDP InErrors +$ue (want $N)" [ "$ue" -eq $N ]
		fi
	done
done

# 1b. Fragments that never complete: reassembled before tracking (the
# hooks see whole packets, as nf_conntrack's), so they wait in B's
# reassembly queue: B's IP layer received them (InReceives +N), and they
# are neither invalid nor tracked.
for fam in 4 6; do
	for kind in frag frag-offset; do
		snap
		inv=$S_INV new=$S_NEW cnt=$S_CNT
		v=S_IN$fam in0=${!v}
		send $fam $kind $N || { rct_fail "IPv$fam $kind: rct_pkt failed"; continue; }
		arrived() { snap; v=S_IN$fam; [ $((${!v} - in0)) -ge $N ]; }
		busywait 3000 arrived || rct_fail "IPv$fam $kind x$N: B's IP layer did not receive them"
		sleep 0.3
		snap
		v=S_IN$fam
		# (At least N received: a neighbour or MLD message may come too.)
		what="IPv$fam $kind x$N: received +$((${!v} - in0)), invalid +$((S_INV - inv)), new +$((S_NEW - new)), count +$((S_CNT - cnt)) (want >= $N, 0, 0, 0)"
		if [ $((${!v} - in0)) -ge $N ] && [ $((S_INV - inv)) -eq 0 ] && [ $((S_NEW - new)) -eq 0 ] && [ $((S_CNT - cnt)) -eq 0 ]; then
			rct_pass "$what"
		else
			rct_fail "$what"
		fi
	done
done

# 2. Controls: the same path with valid packets creates entries.  (TCP:
# B's stack answers each SYN with a RST, the only answer the connection
# gets, which deletes its entry at once, as nf_conntrack does: new +N,
# count +0.)
WAIT_FOR=new
for kind in udp tcp-syn; do
	for fam in 4 6; do
		run_kind $fam $kind $NCTL || continue
		want_cnt=$NCTL
		[ $kind = tcp-syn ] && want_cnt=0
		what="IPv$fam $kind x$NCTL (control): count +$D_CNT (want $want_cnt), new +$D_NEW (want $NCTL), invalid +$D_INV (want 0)"
		if [ $D_CNT -eq $want_cnt ] && [ $D_NEW -eq $NCTL ] && [ $D_INV -eq 0 ]; then
			rct_pass "$what"
		else
			rct_fail "$what"
		fi
	done
done

# 3. drop_invalid.
# write_drop VALUE [NS]: write VALUE to drop_invalid (from NS); its status.
write_drop() {
	if [ -n "$2" ]; then
		ip netns exec "$2" sh -c "echo $1 > $DROP" 2> /dev/null
	else
		( echo "$1" > $DROP ) 2> /dev/null
	fi
}

# reject DESC VALUE [NS]: writing VALUE (from NS) fails, the value stays.
reject() {
	local old new

	old=$(cat $DROP)
	if write_drop "$2" "$3"; then
		new=$(cat $DROP)
		rct_fail "$1: write of $2 succeeded (value $old -> $new)"
		[ "$new" = "$old" ] || echo "$old" > $DROP
	else
		new=$(cat $DROP)
		rct_check "$1: write of $2 fails, value stays $old ($new)" [ "$new" = "$old" ]
	fi
}

reject "drop_invalid rejects 2" 2
reject "drop_invalid is read-only in a child netns" 1 "$B"
rct_check "drop_invalid=1" write_drop 1
rct_check "drop_invalid reads 1 (in B too: global)" \
	[ "$(cat $DROP)-$(ip netns exec "$B" cat $DROP)" = 1-1 ]
reject "drop_invalid rejects 2" 2
reject "drop_invalid is read-only in a child netns" 0 "$B"

WAIT_FOR=invalid
for fam in 4 6; do
	run_kind $fam udp-badlen $N || continue
	v=D_UDPERR$fam ue=${!v}
	v=D_IN$fam in=${!v}
	what="drop_invalid=1: IPv$fam udp-badlen x$N: received $in, invalid +$D_INV (want $N), new +$D_NEW, count +$D_CNT, UDP InErrors +$ue (want 0: dropped)"
	if [ $in -ge $N ] && [ $D_INV -eq $N ] && [ $D_NEW -eq 0 ] && [ $D_CNT -le 0 ] && [ $ue -eq 0 ]; then
		rct_pass "$what"
	else
		rct_fail "$what"
	fi
done
# A SYN+FIN is dropped before TCP: no RST, so counted exactly once.
run_kind 4 tcp-synfin $N && {
	what="drop_invalid=1: IPv4 tcp-synfin x$N: invalid +$D_INV (want $N), new +$D_NEW, RSTs from B $D_RST (want 0: dropped)"
	if [ $D_INV -eq $N ] && [ $D_NEW -eq 0 ] && [ $D_CNT -le 0 ] && [ $D_RST -eq 0 ]; then
		rct_pass "$what"
	else
		rct_fail "$what"
	fi
}
# Valid packets still pass (new source addresses: new flows).
WAIT_FOR=new
for fam in 4 6; do
	if [ $fam = 4 ]; then src=$A4_2; else src=$A6_2; fi
	run_kind $fam udp $NCTL "$src" || continue
	what="drop_invalid=1: IPv$fam udp x$NCTL (control): new +$D_NEW (want $NCTL), invalid +$D_INV (want 0)"
	if [ $D_NEW -eq $NCTL ] && [ $D_INV -eq 0 ]; then
		rct_pass "$what"
	else
		rct_fail "$what"
	fi
done

rct_check "drop_invalid=0" write_drop 0
rct_check "drop_invalid reads 0" [ "$(cat $DROP)" = 0 ]

# 4. log_invalid.
# log_lines: lines "rconntrack: invalid packet: ..." since the mark.
log_lines() {
	rct_dmesg_since | grep -c 'rconntrack: invalid packet: '
}
WAIT_FOR=invalid
[ $loaded_here = 1 ] && rct_check "log_invalid is 0 after the load" [ "$(cat $LOG)" = 0 ]
echo 0 > $LOG || rct_fail "log_invalid=0"
rct_dmesg_mark
run_kind 4 udp-badlen $N && {
	l=$(log_lines)
	rct_check "log_invalid=0: IPv4 udp-badlen x$N: invalid +$D_INV (want $N), $l log lines (want 0)" \
		[ "$D_INV-$l" = "$N-0" ]
}
echo 1 > $LOG || rct_fail "log_invalid=1"
rct_dmesg_mark
run_kind 4 udp-badlen $N && {
	l=$(log_lines)
	rct_check "log_invalid=1: IPv4 udp-badlen x$N: invalid +$D_INV (want $N), $l log lines (want 1..$N)" \
		[ "$D_INV" = "$N" -a "$l" -ge 1 -a "$l" -le "$N" ]
	rct_dmesg_since | grep 'rconntrack: invalid packet: ' | head -n 1 | sed 's/^/#   /'
}
echo 0 > $LOG || rct_fail "log_invalid=0"
rct_dmesg_mark
run_kind 6 udp-badlen $N && {
	l=$(log_lines)
	rct_check "log_invalid back to 0: IPv6 udp-badlen x$N: invalid +$D_INV (want $N), $l log lines (want 0)" \
		[ "$D_INV-$l" = "$N-0" ]
}

rct_exit
