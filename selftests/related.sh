#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ICMP errors are RELATED to the connection they quote, as in nf_conntrack
# (nf_conntrack_inet_error): A - R - B (rct_setup_router), in each of the
# three namespaces:
#
# 1. B's stack answers A's UDP to a closed port with a port unreachable:
#    related everywhere (invalid +0), and the entry stays UNREPLIED (an
#    error is no reply); A receives it.
# 2. A pings B with TTL 1: R's time exceeded quotes an echo R never
#    confirmed (dropped while forwarding): related in R too (the track
#    hook's note, as nf_conntrack's nf_ct_attach), and in A.
# 3. B sends a port unreachable quoting a flow nobody saw: invalid in B, R
#    and A, and it still arrives (drop_invalid=0); with drop_invalid=1, B
#    drops it at once: invalid +1 in B only, and A never sees it.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip ping socat
rct_require_pkt
rct_load
D=/proc/sys/net/rconntrack
old_drop=$(rct_sysctl drop_invalid)
restore() {
	echo "$old_drop" > $D/drop_invalid
	cleanup_all_ns
}
trap restore EXIT
echo 0 > $D/drop_invalid
rct_setup_router || { rct_fail "setup"; rct_exit; }

declare -A c0
snap() {
	local ns
	for ns in A R B; do
		c0[$ns]=$(rct_stat invalid "${!ns}")
	done
	c0[unreach]=$(rct_snmp "$A" Icmp InDestUnreachs)
	c0[timeexc]=$(rct_snmp "$A" Icmp InTimeExcds)
}
# moved DESC WANT_A WANT_R WANT_B WANT_UNREACH WANT_TIMEEXC: invalid
# counters of A, R, B and A's ICMP input counters since snap.
moved() {
	local got want="$2 $3 $4 $5 $6"
	busywait 5000 eval '[ "$(delta)" = "$want" ]'
	got=$(delta)
	rct_check "$1: invalid A R B, A's InDestUnreachs InTimeExcds: +($got) (want +($want))" \
		[ "$got" = "$want" ]
}
delta() {
	echo "$(($(rct_stat invalid "$A") - c0[A])) $(($(rct_stat invalid "$R") - c0[R]))" \
		"$(($(rct_stat invalid "$B") - c0[B]))" \
		"$(($(rct_snmp "$A" Icmp InDestUnreachs) - c0[unreach]))" \
		"$(($(rct_snmp "$A" Icmp InTimeExcds) - c0[timeexc]))"
}

# 1.
snap
echo q | ip netns exec "$A" socat -u - UDP4-SENDTO:10.2.0.2:4200,sourceport=4100 ||
	rct_fail "UDP to a closed port"
moved "port unreachable from B's stack" 0 0 0 1 0
for ns in A R B; do
	if rct_entries "${!ns}" | grep " sport=4100 dport=4200 " | grep -q UNREPLIED; then
		rct_pass "$ns: the flow is still UNREPLIED"
	else
		rct_fail "$ns: want the flow UNREPLIED: $(rct_entries "${!ns}" | grep " sport=4100 ")"
	fi
done

# 2.
snap
ip netns exec "$A" ping -c 1 -W 2 -t 1 10.2.0.2 > /dev/null 2>&1
moved "time exceeded from R for an echo it never confirmed" 0 0 0 0 1
n=$(rct_entries "$R" | grep -c icmp)
rct_check "R has no entry for the expired echo ($n)" [ "$n" = 0 ]

# 3.
snap
"$RCT_PKT" -N "$B" -r 10.2.0.2 10.1.0.1 unreach 4400 4300 || rct_fail "rct_pkt unreach"
moved "unrelated port unreachable, drop_invalid=0" 1 1 1 1 0
echo 1 > $D/drop_invalid
snap
# Dropped at B's LOCAL_OUT: sendto() fails with EPERM.
"$RCT_PKT" -N "$B" -r 10.2.0.2 10.1.0.1 unreach 4400 4300 2> /dev/null &&
	rct_fail "rct_pkt unreach: sent, though its only hook drops it"
sleep 0.5 # nothing is to arrive: give it time to, had it not been dropped
moved "unrelated port unreachable, drop_invalid=1: dropped by B" 0 0 1 0 0
echo 0 > $D/drop_invalid
rct_exit
