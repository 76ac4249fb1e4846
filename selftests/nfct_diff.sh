#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The differential test: the same packets through rconntrack and
# nf_conntrack (switched on by an nft ct rule) in both namespaces of a pair
# A (client) - B (server), then per namespace /proc/net/rconntrack against
# /proc/net/nf_conntrack: the same lines (tuples, TCP state, [UNREPLIED],
# [ASSURED]) and the remaining timeouts within 2 s; and the same number of
# invalid packets (rconntrack's counter against nft's "ct state invalid"
# for TCP, UDP, SCTP and ICMP).
#
# Scenarios, each on its own client port (IPv4 and IPv6 each; crafted
# segments with rct_pkt -r, TTL 63, the stacks' own RSTs to port 8500
# dropped before either tracker, those from port 8501 not): every TCP open
# and close order, RSTs from each side in and out of the window, SYN
# retransmission, SYN to a closed port, reopening in TIME_WAIT, pickup,
# segments out of window, retransmissions, invalid flag combinations and
# transitions, ignored SYNs and the resync; UDP one way, request/reply and
# a stream past 2 s; ICMP echo; ICMP and ICMPv6 errors quoting a live and a
# dead flow; the other ICMP queries, unknown ICMP types, MLD, ICMPv6
# redirects; IPv6
# hop-by-hop and destination options headers (UDP, ICMPv6 echo and error,
# TCP open/close and RST); a fragmented datagram; TCP and UDP over
# loopback; UDP-Lite and unknown protocols; wrong checksums (the checksum
# sysctls on and off); SCTP associations; then the TCP catalogue, UDP, echo
# and ICMP errors forwarded through a router namespace, compared in all
# three; then the same twice more through the router doing NAT
# (masquerade, DNAT). No difference is expected: of the README's
# "Differences from nf_conntrack", loopback gives the same entries (applied
# once, as nf_conntrack does through the skb's conntrack), and priorities
# are not exercised here.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nft
rct_require_pkt
rct_load
rct_setup_pair || { rct_fail "setup"; rct_exit; }
ip -n "$A" link set lo up
# B's link-local address, the source of its redirects (no DAD wait).
ip -n "$B" addr add fe80::2/64 dev vb nodad || rct_fail "B's link-local address"
trap cleanup_all_ns EXIT
SP=8500 CLOSED=8501
# ICMPv6 as both trackers handle it: errors, echo, node information, the
# types of the scenarios below (neighbour discovery, which neither tracks,
# is left out).
ICMP6="destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, echo-reply,
	130, 137, 139, 140, 141, 200"
# ct_rules NS: nf_conntrack on in NS, its invalid packets counted.
ct_rules() {
	ip netns exec "$1" nft -f - <<-EOF || { rct_fail "nft ct rules in $1"; rct_exit; }
	table inet rct_diff_ct {
		chain pre {
			type filter hook prerouting priority 0; policy accept;
			meta l4proto { tcp, udp, icmp, sctp } ct state invalid counter
			icmpv6 type { $ICMP6 } ct state invalid counter
		}
		chain out {
			type filter hook output priority 0; policy accept;
			meta l4proto { tcp, udp, icmp, sctp } ct state invalid counter
			icmpv6 type { $ICMP6 } ct state invalid counter
		}
	}
	EOF
}
for ns in "$A" "$B"; do
	rct_drop_rsts "$ns" rct_diff_rst $SP || { rct_fail "nft RST rules in $ns"; rct_exit; }
	ct_rules "$ns"
done
# Every timeout below an hour gets its own value, the same in both
# trackers: nothing expires during the run (slow under TCG), and the
# seconds left name the rule that chose them.
D=/proc/sys/net/rconntrack
declare -A saved
TIMEOUTS="tcp_timeout_syn_sent=1201 tcp_timeout_syn_recv=1202 tcp_timeout_fin_wait=1204
	tcp_timeout_close_wait=1205 tcp_timeout_last_ack=1206 tcp_timeout_time_wait=1207
	tcp_timeout_close=1208 tcp_timeout_unacknowledged=1209 tcp_timeout_max_retrans=1210
	udp_timeout=1211 udp_timeout_stream=1212 icmp_timeout=1213 generic_timeout=1214
	sctp_timeout_closed=1221 sctp_timeout_cookie_wait=1222 sctp_timeout_cookie_echoed=1223
	sctp_timeout_established=1224 sctp_timeout_shutdown_sent=1225 sctp_timeout_shutdown_recd=1226
	sctp_timeout_shutdown_ack_sent=1227 sctp_timeout_heartbeat_sent=1228"
restore() {
	for f in "${!saved[@]}"; do echo "${saved[$f]}" > "$D/$f"; done
	cleanup_all_ns
}
trap restore EXIT
# nf_timeouts NS: nf_conntrack's timeouts in NS (per namespace) as above.
nf_timeouts() {
	local kv args=()
	for kv in $TIMEOUTS; do
		args+=("net.netfilter.nf_conntrack_$kv")
		[ "${kv%=*}" = icmp_timeout ] && args+=("net.netfilter.nf_conntrack_icmpv6_timeout=${kv#*=}")
	done
	ip netns exec "$1" sysctl -qw "${args[@]}" || rct_fail "nf_conntrack timeouts in $1"
}
for kv in $TIMEOUTS; do
	saved[${kv%=*}]=$(rct_sysctl "${kv%=*}")
	echo "${kv#*=}" > "$D/${kv%=*}" || rct_fail "rconntrack ${kv%=*}"
done
saved[checksum]=$(rct_sysctl checksum)
for ns in "$A" "$B"; do nf_timeouts "$ns"; done
nf_invalid() { rct_nft_counters "$1" rct_diff_ct; } # NS
declare -A inv0
# inv_snap NS...: each tracker's invalid count in each namespace now.
inv_snap() {
	local ns
	for ns in "$@"; do
		inv0[rct$ns]=$(rct_stat invalid "${!ns}")
		inv0[nf$ns]=$(nf_invalid "${!ns}")
	done
}
inv_snap A B

CASES=()
# Crafted packets from A (client) or B (server).
pkt() { # FROM ARGS...
	local from=$1
	shift
	if [ "$from" = A ]; then
		"$RCT_PKT" -N "$A" "${RMODE:--r}" "$CA" "${TO_B:-$SB}" "$@"
	else
		"$RCT_PKT" -N "$B" "${RMODE:--r}" "$SB" "${TO_A:-$CA}" "$@"
	fi || rct_fail "rct_pkt $from $*"
}
c() { pkt A tcp "$P" ${DP:-$SP} "$@"; }  # client segment: FLAGS SEQ ACK
s() { pkt B tcp ${DP:-$SP} "$P" "$@"; }  # server segment
hs() { c S 1000 0; s SA 5000 1001; c A 1001 5001; }
M=1000000

# Each scenario: its name and the packets, on client port $P.
scenarios_tcp() {
	sc syn;                 c S 1000 0
	sc syn_retransmit;      c S 1000 0; c S 1000 0
	sc syn_urg;             c SU 1000 0
	sc synack;              c S 1000 0; s SA 5000 1001
	sc synack_urg_invalid;  c S 1000 0; s SAU 5000 1001
	sc synack_wrong_ack;    c S 1000 0; s SA 5000 7777
	sc synack_from_client;  c S 1000 0; c SA 1000 0
	sc ack_in_syn_sent;     c S 1000 0; s A 5000 1001
	sc handshake;           hs
	sc syn_in_established;  hs; c S 90000 0
	sc ignored_syn_resync;  hs; c S 90000 0; s SA 70000 90001; c A 90001 70001
	sc client_fin;          hs; c FA 1001 5001
	sc client_fin_acked;    hs; c FA 1001 5001; s A 5001 1002
	sc client_fin_last_ack; hs; c FA 1001 5001; s A 5001 1002; s FA 5001 1002
	sc client_close;        hs; c FA 1001 5001; s A 5001 1002; s FA 5001 1002; c A 1002 5002
	sc server_fin;          hs; s FA 5001 1001
	sc server_fin_acked;    hs; s FA 5001 1001; c A 1001 5002
	sc server_close;        hs; s FA 5001 1001; c A 1001 5002; c FA 1001 5002; s A 5002 1002
	sc simultaneous_close;  hs; c FA 1001 5001; s FA 5001 1001; c A 1002 5002; s A 5002 1002
	sc fin_without_ack;     hs; c F 1001 5001
	sc simultaneous_open;   c S 1000 0; s S 5000 0; c SA 1000 5001; s SA 5000 1001; c A 1001 5001
	sc client_rst;          hs; c R 1001 0
	sc server_rst;          hs; s R 5001 0
	sc rst_ack;             hs; s RA 5001 1001
	sc rst_out_of_window;   hs; s R $((5001 + M)) 0
	sc rst_below_window;    hs; s R 4000 0
	sc rst_not_exact;       hs; s R 5501 0
	sc rst_answers_syn;     c S 1000 0; s RA 0 1001
	sc rst_after_fin;       hs; c FA 1001 5001; s R 5001 0
	DP=$CLOSED
	sc syn_to_closed_port;  c S 1000 0
	DP=
	sc reopen_by_client;    hs; c FA 1001 5001; s FA 5001 1002; c A 1002 5002; c S 200000 0
	sc reopen_by_server;    hs; c FA 1001 5001; s FA 5001 1002; c A 1002 5002; s S 300000 0
	sc syn_after_rst;       hs; c R 1001 0; c S 200000 0
	sc syn_after_peer_rst;  hs; s R 5001 0; c S 200000 0
	sc pickup;              c A 1000 2000
	sc pickup_answered;     c A 1000 2000; s A 2000 1000
	sc pickup_assured;      c A 1000 2000; s A 2000 1000; c A 1000 2000
	sc ack_unsent_data;     hs; c A 1001 $((5001 + M))
	sc seq_past_window;     hs; c A $((1001 + M)) 5001
	sc old_ack;             hs; c A 1001 $(((5001 - 200000) & 0xffffffff))
	sc retransmissions;     hs; c A 1001 5001; c A 1001 5001; c A 1001 5001
	sc psh_only_invalid;    hs; c P 1001 5001
	sc synfin_invalid;      c SF 1000 0
	sc synack_retransmit;   c S 1000 0; s SA 5000 1001; s SA 5000 1001
	sc rst_client_syn_sent; c S 1000 0; c R 1001 0
	sc rst_server_syn_recv; c S 1000 0; s SA 5000 1001; s R 5001 0
	sc rst_client_syn_recv; c S 1000 0; s SA 5000 1001; c R 1001 0
	sc fin_in_syn_sent;     c S 1000 0; c FA 1001 0
	sc fin_in_syn_recv;     c S 1000 0; s SA 5000 1001; c FA 1001 5001
	sc ack_in_close_wait;   hs; c FA 1001 5001; s A 5001 1002; c A 1002 5001
	sc fin_retransmit;      hs; c FA 1001 5001; c FA 1001 5001
	sc ack_in_time_wait;    hs; c FA 1001 5001; s FA 5001 1002; c A 1002 5002; c A 1002 5002
	sc rst_in_time_wait;    hs; c FA 1001 5001; s FA 5001 1002; c A 1002 5002; s R 5002 0
	sc syn_in_close_wait;   hs; c FA 1001 5001; s A 5001 1002; c S 90000 0
	sc challenge_ack;       hs; s FA 5001 1001; c A 1001 5002; c FA 1001 5002; c S 300000 0; s A 5002 1002
	sc syn_sent2;           c S 1000 0; s S 5000 0
	sc pickup_by_server;    s A 2000 1000
	sc fin_without_entry;   c FA 1000 2000
	sc rst_without_entry;   c R 1000 0
	sc synack_without_entry; s SA 5000 1001
}
sc() {
	P=$((P + 1))
	CASES+=("$FAM $1 $P")
}
# scp NAME PROTO: a scenario of a protocol tracked without ports (all its
# packets between two addresses are one connection): its lines are those
# of protocol number PROTO.
scp() {
	CASES+=("$FAM $1 p$2")
}

for FAM in 4 6; do
	if [ $FAM = 4 ]; then CA=10.0.0.1 SB=10.0.0.2 P=43000; else CA=fd00::1 SB=fd00::2 P=44000; fi
	scenarios_tcp
	# UDP and ICMP: ports and IDs from 45000 (IPv4) / 46000 (IPv6).
	[ $FAM = 4 ] && P=45000 || P=46000
	sc udp_one_way;       pkt A udp "$P" 9000
	sc udp_reply_first;   pkt B udp 9000 "$P"; pkt A udp "$P" 9000
	sc udp_request_reply; pkt A udp "$P" 9000; pkt B udp 9000 "$P"
	sc udp_stream;        pkt A udp "$P" 9000; pkt B udp 9000 "$P"
	eval "stream$FAM=$P t$FAM=$(rct_now_ms)"
	sc icmp_echo;         pkt A icmp "$P" 1
	sc icmp_echo_twice;   pkt A icmp "$P" 1; pkt A icmp "$P" 2
	# A port unreachable from B quoting A:P -> B:9000 (a live flow),
	# then one quoting a flow nobody opened (ICMP, ICMPv6).
	sc icmp_error_live; pkt A udp "$P" 9000; pkt B unreach "$P" 9000
	sc icmp_error_dead; pkt B unreach "$P" 9000
	# The other queries nf_conntrack tracks (B's stack answers the
	# timestamp itself too), a reply alone, types it counts invalid, and
	# MLD, which neither tracks.
	iq() { pkt "$1" icmptype "$2" "$P" 1; } # FROM TYPE
	if [ $FAM = 4 ]; then
		sc icmp_timestamp;    iq A 13; iq B 14
		sc icmp_info;         iq A 15
		sc icmp_address_mask; iq A 17
		sc icmp_reply_alone;  iq A 14
		sc icmp_router_adv;   iq A 9
		sc icmp_type_40;      iq A 40
	else
		sc icmp_node_info;    iq A 139; iq B 140
		sc icmp_type_141;     iq A 141
		sc icmp_type_200;     iq A 200
		sc icmp_mld_query;    iq A 130
		# Redirects from B as a router (link-local, hop limit 255)
		# quoting A's datagram to B: related to a live flow, invalid
		# for a dead one or from a global address.
		rd() { "$RCT_PKT" -N "$B" -r "${1:-fe80::2%vb}" "$CA" redirect "$SB" "$P" 9000 ||
			rct_fail "rct_pkt redirect"; }
		sc icmp_redirect_live;   pkt A udp "$P" 9000; rd
		sc icmp_redirect_dead;   rd
		sc icmp_redirect_global; pkt A udp "$P" 9000; rd "$SB"
	fi
	# Protocols nf_conntrack 7.3 tracks by address alone (generic): an
	# unknown one each way, and UDP-Lite (its own tracker is gone in 7.3).
	scp generic_one_way 253;  pkt A proto 253 "$P" 9000
	scp generic_both_ways 254; pkt A proto 254 "$P" 9000; pkt B proto 254 9000 "$P"
	pkt A proto 254 "$P" 9000
	scp udplite 136;          pkt A proto 136 "$P" 9000; pkt B proto 136 9000 "$P"
	# Wrong transport checksums (rct_pkt -rc): invalid where they enter,
	# tracked where they are sent (nf_conntrack_checksum, rconntrack's
	# checksum: both 1); ICMP over IPv4 only (the kernel computes ICMPv6
	# checksums of raw sockets). Then both switched off in B: tracked.
	RMODE=-rc
	sc csum_bad_syn;  c S 1000 0
	sc csum_bad_udp;  pkt A udp "$P" 9000
	[ $FAM = 4 ] && { sc csum_bad_echo; pkt A icmp "$P" 1; }
	RMODE=
	sc csum_bad_rst;  hs; RMODE=-rc s R 5001 0
	echo 0 > "$D/checksum" && ip netns exec "$B" sysctl -qw net.netfilter.nf_conntrack_checksum=0 ||
		rct_fail "checksum sysctls off"
	sc csum_off_syn;  RMODE=-rc c S 1000 0
	echo 1 > "$D/checksum" && ip netns exec "$B" sysctl -qw net.netfilter.nf_conntrack_checksum=1 ||
		rct_fail "checksum sysctls on"
	# SCTP (rct_pkt sctp SPORT DPORT VTAG CHUNKS; B has no SCTP stack):
	# the four-way handshake (tags 4369 for A, 8738 for B), data, shutdown
	# from each side, ABORT with and without the T flag and with a wrong
	# tag, heartbeats on a new path, wrong tags, out-of-the-blue chunks,
	# an INIT retransmitted, with a tag, not alone, a wrong CRC32c.
	ca() { pkt A sctp "$P" 7000 "$@"; } # VTAG CHUNKS
	sb() { pkt B sctp 7000 "$P" "$@"; }
	shs() { ca 0 init:4369; sb 4369 init_ack:8738; ca 8738 cookie_echo; sb 4369 cookie_ack; }
	sc sctp_init;              ca 0 init:4369
	sc sctp_init_retransmit;   ca 0 init:4369; ca 0 init:4369
	sc sctp_init_ack;          ca 0 init:4369; sb 4369 init_ack:8738
	sc sctp_cookie_echo_tag;   ca 0 init:4369; sb 4369 init_ack:8738; ca 1 cookie_echo
	sc sctp_handshake;         shs
	sc sctp_data;              shs; ca 8738 data; sb 4369 data,sack
	sc sctp_wrong_vtag;        shs; ca 4369 data
	sc sctp_shutdown;          shs; ca 8738 shutdown; sb 4369 shutdown_ack; ca 8738 shutdown_complete
	sc sctp_shutdown_server;   shs; sb 4369 shutdown; ca 8738 shutdown_ack; sb 4369 shutdown_complete
	sc sctp_abort;             shs; sb 4369 abort
	sc sctp_abort_t;           shs; sb 8738 abort:t
	sc sctp_abort_wrong_tag;   shs; sb 1 abort
	sc sctp_ootb_abort;        ca 5 abort
	sc sctp_ootb_data;         ca 5 data
	sc sctp_init_with_tag;     ca 5 init:4369
	sc sctp_init_not_alone;    ca 0 init:4369,data
	sc sctp_heartbeat;         ca 7 heartbeat; sb 9 heartbeat_ack
	sc sctp_bad_crc;           RMODE=-rc ca 0 init:4369
	if [ $FAM = 4 ]; then
		DST=10.0.0.2 LO=127.0.0.1
	else
		DST=[fd00::2] LO=::1
		# Extension headers before the transport header: hop-by-hop
		# options (-rh), destination options (-rd), on every packet.
		RMODE=-rh
		sc ext_hbh_udp;       pkt A udp "$P" 9000; pkt B udp 9000 "$P"
		sc ext_hbh_icmp;      pkt A icmp "$P" 1
		sc ext_hbh_unreach;   pkt A udp "$P" 9000; pkt B unreach "$P" 9000
		RMODE=-rd
		sc ext_dst_udp;       pkt A udp "$P" 9000
		sc ext_dst_close;     c S 1000 0; s SA 5000 1001; c A 1001 5001; c FA 1001 5001
		s FA 5001 1002; c A 1002 5002
		sc ext_dst_rst;       c S 1000 0; s RA 0 1001
		RMODE=
		sc ext_mixed;         c S 1000 0; RMODE=-rh s SA 5000 1001; RMODE=-rd c A 1001 5001
	fi
	# A 3000-byte datagram over the 1500-byte MTU: fragments, reassembled
	# before either tracker.
	sc udp_fragmented
	head -c 3000 /dev/zero |
		ip netns exec "$A" socat -u -b 4000 - "UDP$FAM-SENDTO:$DST:9000,sourceport=$P" ||
		rct_fail "socat fragmented"
	# Loopback, all in A: each segment passes LOCAL_OUT/POST_ROUTING and
	# PRE_ROUTING/LOCAL_IN of the same namespace.
	lo() { "$RCT_PKT" -N "$A" -r $LO $LO tcp "$@" || rct_fail "rct_pkt lo $*"; }
	sc lo_handshake; lo "$P" $SP S 1000 0; lo $SP "$P" SA 5000 1001; lo "$P" $SP A 1001 5001
	sc lo_fin;       lo "$P" $SP S 1000 0; lo $SP "$P" SA 5000 1001; lo "$P" $SP A 1001 5001
	lo "$P" $SP FA 1001 5001
	sc lo_close;     lo "$P" $SP S 1000 0; lo $SP "$P" SA 5000 1001; lo "$P" $SP A 1001 5001
	lo "$P" $SP FA 1001 5001; lo $SP "$P" FA 5001 1002; lo "$P" $SP A 1002 5002
	sc lo_udp;       "$RCT_PKT" -N "$A" -r $LO $LO udp "$P" 9000
done
# The streams' later packets, more than 2 s after their first.
for FAM in 4 6; do
	eval "p=\$stream$FAM t=\$t$FAM"
	wait_ms=$((t + 2500 - $(rct_now_ms)))
	[ $wait_ms -gt 0 ] && sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
	if [ $FAM = 4 ]; then CA=10.0.0.1 SB=10.0.0.2; else CA=fd00::1 SB=fd00::2; fi
	pkt A udp "$p" 9000
	pkt B udp 9000 "$p"
done
sleep 1

# norm: "KEY TIMEOUT" per line, KEY the line without the timeout and the
# fields one tracker prints and the other not (mark, zone, use).
norm() {
	sed -E 's/ (mark|zone|use|secctx)=[^ ]*//g; s/ +/ /g; s/ $//' |
		awk '{ t = $5; $5 = "-"; print $0 "|" t }' | sort
}
# compare NS...: the tables of the namespaces named (A, B, R: the
# variables holding them) against each other, scenario by scenario (CASES);
# sets SAME, the views with an entry found the same.
compare() {
	local ns files=()
	for ns in "$@"; do
		rct_entries "${!ns}" | norm > "/tmp/rct_diff_rct_$ns"
		rct_ns_cat "${!ns}" /proc/net/nf_conntrack | norm > "/tmp/rct_diff_nf_$ns"
		files+=("/tmp/rct_diff_rct_$ns" "/tmp/rct_diff_nf_$ns")
	done
# One awk for the whole comparison (a few processes instead of ten per
# scenario view: under TCG each costs 0.05 to 0.2 s). A scenario's lines
# are those with its client port (or ICMP id) as sport, dport or id, in
# the sorted order of norm(); the keys (the line less the timeout) must be
# the same, the timeouts within 2 s line by line. Prints "ok TEXT",
# "fail TEXT" (continuation lines "more TEXT"), and "same N".
printf '%s\n' "${CASES[@]}" > /tmp/rct_diff_cases
SAME=0
while read -r verdict text; do
	case $verdict in
	ok) rct_pass "$text" ;;
	fail) rct_fail "$text" ;;
	more) echo "#   $text" ;;
	same) SAME=$text ;;
	esac
done < <(awk -v nss="$*" -v where="${WHERE:-}" '
	FILENAME ~ /cases$/ { c[++n] = $0; next }
	{
		# /tmp/rct_diff_<tracker>_<ns>
		split(FILENAME, f, "_"); tr = f[3]; ns = f[4]
		split($0, kv, "|"); m = split(kv[1], w, " ")
		delete seen
		nseen = 0
		for (i = 1; i <= m; i++) {
			if (w[i] !~ /^(sport|dport|id)=/) continue
			p = substr(w[i], index(w[i], "=") + 1)
			if (p in seen) continue
			seen[p] = 1
			nseen++
			k = ns SUBSEP tr SUBSEP w[1] SUBSEP p
			cnt[k]++; key[k, cnt[k]] = kv[1]; tmo[k, cnt[k]] = kv[2]
		}
		# No port or id: the protocol number names the scenario.
		if (!nseen) {
			k = ns SUBSEP tr SUBSEP w[1] SUBSEP "p" w[4]
			cnt[k]++; key[k, cnt[k]] = kv[1]; tmo[k, cnt[k]] = kv[2]
		}
	}
	END {
		for (j = 1; j <= n; j++) {
			split(c[j], a, " "); fam = a[1]; name = a[2]; port = a[3]
			nn = split(nss, L, " ")
			for (x = 1; x <= nn; x++) {
				ns = L[x]
				r = ns SUBSEP "rct" SUBSEP "ipv" fam SUBSEP port
				q = ns SUBSEP "nf" SUBSEP "ipv" fam SUBSEP port
				desc = "IPv" fam " " name where ", " ns
				diff = cnt[r] != cnt[q]
				for (i = 1; !diff && i <= cnt[r]; i++) diff = key[r, i] != key[q, i]
				if (diff) {
					print "fail " desc ": rconntrack differs from nf_conntrack"
					for (i = 1; i <= cnt[r]; i++) print "more rconntrack:   " key[r, i] "|" tmo[r, i]
					for (i = 1; i <= cnt[q]; i++) print "more nf_conntrack: " key[q, i] "|" tmo[q, i]
					continue
				}
				far = ""
				for (i = 1; i <= cnt[r]; i++) {
					d = tmo[r, i] - tmo[q, i]
					if (d > 2 || d < -2) far = far " " key[r, i] " (" tmo[r, i] " against " tmo[q, i] ")"
				}
				if (far != "") { print "fail " desc ": timeouts more than 2 s apart:" far; continue }
				lines = ""
				for (i = 1; i <= cnt[r]; i++) lines = lines (i > 1 ? " / " : "") key[r, i] "|" tmo[r, i]
				if (cnt[r]) same++
				print "ok " desc ": same as nf_conntrack: " (cnt[r] ? lines : "no entry")
			}
		}
		print "same " same + 0
	}' /tmp/rct_diff_cases "${files[@]}")
}
# totals WHAT MIN_SAME NS...: not vacuous: at least 60 scenarios per
# family, at least MIN_SAME views with an entry (both trackers were on),
# and each namespace's invalid packets since inv_snap the same number in
# both trackers (TCP, UDP, SCTP, ICMP, ICMPv6 errors and echo), not zero.
totals() {
	local what=$1 min=$2 ns n4 n6 r n
	shift 2
	n4=$(grep -c '^4 ' /tmp/rct_diff_cases)
	n6=$(grep -c '^6 ' /tmp/rct_diff_cases)
	rct_check "$what scenarios: $n4 IPv4, $n6 IPv6 (want >= 60 each)" test "$n4" -ge 60 -a "$n6" -ge 60
	rct_check "$what: $SAME scenario views (namespace x scenario) with an entry, the same in both (want >= $min)" \
		test "$SAME" -ge "$min"
	for ns in "$@"; do
		r=$(($(rct_stat invalid "${!ns}") - inv0[rct$ns]))
		n=$(($(nf_invalid "${!ns}") - inv0[nf$ns]))
		rct_check "$what, $ns: invalid packets, rconntrack +$r, nf_conntrack +$n" test "$r" = "$n" -a "$r" -gt 0
	done
}
compare A B
totals pair 200 A B

# Forwarding: the TCP catalogue, UDP and ICMP again, from A to B through a
# router R (rct_setup_router: A 10.1.0.1 fd01::1, B 10.2.0.2 fd02::2),
# compared in all three namespaces: R tracks at PRE_ROUTING and
# POST_ROUTING what it forwards (and the crafted packets' TTL 63 becomes
# 62 on the way; the ends' own RSTs, TTL 64, are dropped at their output
# as above).
cleanup_all_ns
rct_setup_router || { rct_fail "router setup"; rct_exit; }
for ns in "$A" "$B"; do
	rct_drop_rsts "$ns" rct_diff_rst $SP || { rct_fail "nft RST rules in $ns"; rct_exit; }
done
for ns in "$A" "$R" "$B"; do
	ct_rules "$ns"
	nf_timeouts "$ns"
done
inv_snap A R B
CASES=()
# scenarios_tcp_short: the TCP catalogue's main paths (DNAT below: the
# same tracker code as masquerade, with the rewrite on the other side).
scenarios_tcp_short() {
	sc syn;                 c S 1000 0
	sc handshake;           hs
	sc client_close;        hs; c FA 1001 5001; s A 5001 1002; s FA 5001 1002; c A 1002 5002
	sc server_rst;          hs; s R 5001 0
	sc rst_out_of_window;   hs; s R $((5001 + M)) 0
	sc reopen_by_client;    hs; c FA 1001 5001; s FA 5001 1002; c A 1002 5002; c S 200000 0
	sc pickup_answered;     c A 1000 2000; s A 2000 1000
	sc seq_past_window;     hs; c A $((1001 + M)) 5001
}
# scenarios_routed TCP_PORT UDP_PORT [short]: the catalogue a router
# forwards (its TCP part short or whole).
scenarios_routed() {
	P=$1
	if [ "${3:-}" = short ]; then scenarios_tcp_short; else scenarios_tcp; fi
	P=$2
	sc udp_one_way;       pkt A udp "$P" 9000
	sc udp_request_reply; pkt A udp "$P" 9000; pkt B udp 9000 "$P"
	sc icmp_echo;         pkt A icmp "$P" 1
	sc icmp_error_live;   pkt A udp "$P" 9000; pkt B unreach "$P" 9000
	sc icmp_error_dead;   pkt B unreach "$P" 9000
}
for FAM in 4 6; do
	if [ $FAM = 4 ]; then CA=10.1.0.1 SB=10.2.0.2; else CA=fd01::1 SB=fd02::2; fi
	[ $FAM = 4 ] && scenarios_routed 43000 45000 || scenarios_routed 44000 46000
done
sleep 1
WHERE=" (forwarded)" compare A R B
totals forwarded 300 A R B

# NAT on the router, the catalogue twice more per family (the second time
# with the short TCP part), on ports of their own (the forwarded phase's
# entries stay): masquerade, A to B
# leaving R with R's B-side address (B answers that address), and DNAT, A
# to R's A-side address forwarded to B (B answers A, A sees R's address).
# R's nf_conntrack does the NAT; both trackers must key the connections as
# it does: original as the first packet entered R, reply as the other end
# answers (in A and B each sees its own side). Invalid packets are not
# translated and reach R's own stack, whose RSTs (TTL 64) are dropped.
rct_drop_rsts "$R" rct_diff_rst $SP || { rct_fail "nft RST rules in R"; rct_exit; }
ip netns exec "$R" nft -f - <<-EOF || { rct_fail "nft NAT rules in R"; rct_exit; }
table ip rct_diff_nat {
	chain pre {
		type nat hook prerouting priority -100; policy accept;
		ip daddr 10.1.0.254 meta l4proto { tcp, udp } dnat to 10.2.0.2
		ip daddr 10.1.0.254 icmp type echo-request dnat to 10.2.0.2
	}
	chain post {
		type nat hook postrouting priority 100; policy accept;
		oifname "rb" ct original ip daddr 10.2.0.2 masquerade
	}
}
table ip6 rct_diff_nat {
	chain pre {
		type nat hook prerouting priority -100; policy accept;
		ip6 daddr fd01::fe meta l4proto { tcp, udp } dnat to fd02::2
		ip6 daddr fd01::fe icmpv6 type echo-request dnat to fd02::2
	}
	chain post {
		type nat hook postrouting priority 100; policy accept;
		oifname "rb" ct original ip6 daddr fd02::2 masquerade
	}
}
EOF
inv_snap A R B
CASES=()
for FAM in 4 6; do
	if [ $FAM = 4 ]; then
		CA=10.1.0.1 SB=10.2.0.2 RA=10.1.0.254 RB=10.2.0.254
	else
		CA=fd01::1 SB=fd02::2 RA=fd01::fe RB=fd02::fe
	fi
	TO_A=$RB
	[ $FAM = 4 ] && scenarios_routed 47000 47500 || scenarios_routed 48000 48500
	TO_A= TO_B=$RA
	[ $FAM = 4 ] && scenarios_routed 49000 49500 short || scenarios_routed 50000 50500 short
	TO_B=
done
sleep 1
WHERE=" (NAT)" compare A R B
totals NAT 250 A R B
# Not vacuous: R's nf_conntrack translated every NAT flow (reply to R's
# B-side address, or original to its A-side address), in both families.
# (The tables print IPv6 addresses in full.)
for am in 10.2.0.254:50 fd02:0000:0000:0000:0000:0000:0000:00fe:50 10.1.0.254:10 \
	fd01:0000:0000:0000:0000:0000:0000:00fe:10; do
	a=${am%:*}
	n=$(grep -c -- " dst=$a .*|" /tmp/rct_diff_nf_R)
	rct_check "NAT: R's nf_conntrack has $n connections with $a as a destination (want >= ${am##*:})" \
		test "$n" -ge "${am##*:}"
done
rm -f /tmp/rct_diff_*
rct_exit
