#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# TCP window tracking (nf_conntrack's tcp_in_window() and the RST rules of
# nf_conntrack_tcp_packet(), 7.3), on crafted segments (rct_pkt -r: no
# data, window 64240, no options) between A (client) and B (server), IPv4
# and IPv6. B also runs nf_conntrack (an nft ct rule), configured as
# rconntrack, and every case compares the two on the same packets: the
# state of the connection in rconntrack (A and B) and in B's nf_conntrack,
# the timeout where it matters, and the invalid counts (rconntrack's in A
# and B, nf_conntrack's TCP invalid packets in B, counted by nft).
#
# Handshake: client SYN seq 1000, server SYN/ACK seq 5000, client ACK.
# 1. A RST from the server with a sequence number a million past the
#    window (an off-path attacker who knows the ports): invalid, the
#    connection stays ESTABLISHED.
# 2. An ACK of data never sent (ack a million ahead): invalid, unchanged.
# 3. A segment a million past the receiver's window: invalid, unchanged.
# 4. A RST in the window but not at the expected sequence number: valid,
#    the state stays (for the peer's challenge ACK), with the
#    unacknowledged timeout (300 s).
# 5. A RST at the expected sequence number: CLOSE.
# 6. The same ACK sent again until tcp_max_retrans (3): the
#    tcp_timeout_max_retrans timeout (77 s here).
# 7. tcp_be_liberal=1: case 2 is valid.
# 8. tcp_loose=0: an ACK with no connection creates none and is invalid.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nft
rct_require_pkt
D=/proc/sys/net/rconntrack
rct_load
declare -A saved
for f in tcp_be_liberal tcp_loose tcp_timeout_max_retrans; do
	saved[$f]=$(rct_sysctl $f 2>/dev/null) || rct_fail "sysctl $f missing"
done
restore() {
	for f in "${!saved[@]}"; do [ -n "${saved[$f]}" ] && echo "${saved[$f]}" > "$D/$f"; done
	cleanup_all_ns
}
trap restore EXIT
rct_setup_pair || { rct_fail "setup"; rct_exit; }

SPORT=8400
# No stack answers the crafted segments (no sockets): RSTs dropped before
# either tracker's output hook.
for ns in "$A" "$B"; do
	rct_drop_rsts "$ns" rct_tcp_window $SPORT || { rct_fail "nft rules in $ns"; rct_exit; }
done
# nf_conntrack in B, and a count of the TCP packets it finds invalid.
ip netns exec "$B" nft -f - <<-EOF || { rct_fail "nft ct rules in B"; rct_exit; }
table inet rct_ct {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		meta l4proto tcp ct state invalid counter
	}
	chain out {
		type filter hook output priority 0; policy accept;
		meta l4proto tcp ct state invalid counter
	}
}
EOF
# nf NAME VALUE: sets B's nf_conntrack sysctl NAME.
nf() { ip netns exec "$B" sysctl -qw "net.netfilter.nf_conntrack_$1=$2" || rct_fail "nf_conntrack_$1"; }
# both NAME VALUE: the same setting in both trackers.
both() { echo "$2" > "$D/$1" && nf "$1" "$2"; }
nf_invalid() { rct_nft_counters "$B" rct_ct; }
# The three views of connection PORT: rconntrack in A, in B, nf_conntrack
# in B (one line each, or nothing).
view() {
	case $1 in
	A) rct_entries "$A" ;;
	B) rct_entries "$B" ;;
	nf) rct_ns_cat "$B" /proc/net/nf_conntrack ;;
	esac | grep -m 3 -E " (sport|dport)=$2 "
}
# one_line V PORT STATE: V's view of PORT is one line, in STATE; the line
# in LINE, its seconds left in LEFT (one view read, bash for the rest).
one_line() {
	local want=$3 f
	LINE=$(view "$1" "$2")
	[ -n "$LINE" ] && [[ $LINE != *$'\n'* ]] || return 1
	read -r -a f <<< "$LINE"
	LEFT=${f[4]}
	[ "${f[5]}" = "$want" ]
}
# snap: invalid counts before a case.
declare -A inv0
snap() {
	inv0[A]=$(rct_stat invalid "$A")
	inv0[B]=$(rct_stat invalid "$B")
	inv0[nf]=$(nf_invalid)
}
# expect DESC PORT STATE INVALID [MAXLEFT]: each view has one line with
# STATE (none if STATE is -), at most MAXLEFT seconds left, and each
# invalid count moved by INVALID since snap.
expect() {
	local desc=$1 port=$2 want=$3 inv=$4 most=${5:-} v n got left
	for v in A B nf; do
		if [ "$want" = - ]; then
			busywait 3000 eval '[ -z "$(view $v $port)" ]' &&
				rct_pass "$desc, $v: no connection" ||
				rct_fail "$desc, $v: want none, got: $(view $v "$port")"
		else
			if busywait 3000 one_line "$v" "$port" "$want"; then
				left=$LEFT
				if [ -n "$most" ] && [ "$left" -gt "$most" ]; then
					rct_fail "$desc, $v: $want with ${left}s left, want at most $most"
				else
					rct_pass "$desc, $v: $want, ${left}s left"
				fi
			else
				rct_fail "$desc, $v: want one $want line, got: $(view $v "$port")"
			fi
		fi
		case $v in
		nf) n=$(nf_invalid) ;;
		*) n=$(rct_stat invalid "${!v}") ;;
		esac
		got=$((n - inv0[$v]))
		rct_check "$desc, $v: invalid +$got (want +$inv)" [ "$got" = "$inv" ]
	done
}

for fam in 4 6; do
	if [ $fam = 4 ]; then CA=10.0.0.1 SB=10.0.0.2; else CA=fd00::1 SB=fd00::2; fi
	P=$((42000 + fam * 100))
	# seg FROM SPORT DPORT FLAGS SEQ ACK: one crafted segment from A or B.
	seg() {
		local from=$1
		shift
		if [ "$from" = A ]; then
			"$RCT_PKT" -N "$A" -r $CA $SB tcp "$@"
		else
			"$RCT_PKT" -N "$B" -r $SB $CA tcp "$@"
		fi || rct_fail "rct_pkt $from $*"
	}
	open() { # PORT: the handshake
		seg A "$1" $SPORT S 1000 0
		seg B $SPORT "$1" SA 5000 1001
		seg A "$1" $SPORT A 1001 5001
	}
	M=1000000

	snap
	open $P
	expect "IPv$fam handshake" $P ESTABLISHED 0
	snap
	seg B $SPORT $P R $((5001 + M)) 0
	expect "IPv$fam 1. RST a million past the window" $P ESTABLISHED 1
	snap
	seg A $P $SPORT A 1001 $((5001 + M))
	expect "IPv$fam 2. ACK of data never sent" $P ESTABLISHED 1
	snap
	seg A $P $SPORT A $((1001 + M)) 5001
	expect "IPv$fam 3. segment past the receiver's window" $P ESTABLISHED 1
	snap
	seg B $SPORT $P R 5501 0
	expect "IPv$fam 4. RST in the window, not exact" $P ESTABLISHED 0 300
	snap
	seg B $SPORT $P R 5001 0
	expect "IPv$fam 5. RST at the expected sequence number" $P CLOSE 0

	both tcp_timeout_max_retrans 77
	snap
	open $((P + 1))
	for i in 1 2 3; do seg A $((P + 1)) $SPORT A 1001 5001; done
	expect "IPv$fam 6. ACK sent 4 times" $((P + 1)) ESTABLISHED 0 77
	both tcp_timeout_max_retrans "${saved[tcp_timeout_max_retrans]}"

	both tcp_be_liberal 1
	snap
	open $((P + 2))
	seg A $((P + 2)) $SPORT A 1001 $((5001 + M))
	expect "IPv$fam 7. tcp_be_liberal: ACK of data never sent" $((P + 2)) ESTABLISHED 0
	both tcp_be_liberal 0

	both tcp_loose 0
	snap
	seg A $((P + 3)) $SPORT A 1001 5001
	expect "IPv$fam 8. tcp_loose=0: ACK without a connection" $((P + 3)) - 1
	both tcp_loose 1
done
rct_exit
