#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Forwarded traffic: A - R - B, R routing (ip_forward=1, IPv6 forwarding)
# between 10.1.0.0/24, fd01::/64 (A's side) and 10.2.0.0/24, fd02::/64
# (B's side). Three flows from A to B: UDP A:4000 <-> B:5000 (request,
# reply, request: ASSURED), an ICMP echo, an ICMPv6 echo. R tracks them
# at PRE_ROUTING and POST_ROUTING: exactly one entry per flow with the
# ends' tuple (R's own addresses nowhere), new +3, found +4 (the UDP reply
# and second request, the two echo replies), invalid +0; A and B each
# have their own three entries with the same tuples.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip ping socat
rct_load
D=/proc/sys/net/rconntrack
old_udp=$(rct_sysctl udp_timeout) old_stream=$(rct_sysctl udp_timeout_stream) old_icmp=$(rct_sysctl icmp_timeout)
restore() {
	echo "$old_udp" > $D/udp_timeout
	echo "$old_stream" > $D/udp_timeout_stream
	echo "$old_icmp" > $D/icmp_timeout
	cleanup_all_ns
}
trap restore EXIT
# Nothing expires during the test: the counts are exact.
echo 600 > $D/udp_timeout
echo 600 > $D/udp_timeout_stream
echo 600 > $D/icmp_timeout

rct_setup_router || { rct_fail "setup"; rct_exit; }

declare -A c0
for ns in A R B; do
	for c in new found invalid; do c0[$ns-$c]=$(rct_stat $c "${!ns}"); done
done

# The flows. Each step waits for the packet to reach the far end's table.
echo q1 | ip netns exec "$A" socat -u - UDP4-SENDTO:10.2.0.2:5000,sourceport=4000 ||
	rct_fail "UDP request"
busywait 5000 eval 'rct_entries "$B" | grep -q " sport=4000 dport=5000 "' || rct_fail "UDP request did not reach B"
echo r1 | ip netns exec "$B" socat -u - UDP4-SENDTO:10.1.0.1:4000,sourceport=5000 ||
	rct_fail "UDP reply"
busywait 5000 eval 'rct_entries "$A" | grep " sport=4000 dport=5000 " | grep -qv UNREPLIED' ||
	rct_fail "UDP reply did not reach A"
sleep 2.5 # ASSURED: traffic both ways more than 2 s after the first packet
echo q2 | ip netns exec "$A" socat -u - UDP4-SENDTO:10.2.0.2:5000,sourceport=4000 ||
	rct_fail "UDP second request"
busywait 5000 eval 'rct_entries "$B" | grep " sport=4000 dport=5000 " | grep -q ASSURED' ||
	rct_fail "UDP second request did not reach B"
ip netns exec "$A" ping -c 1 -W 2 10.2.0.2 > /dev/null || rct_fail "ping 10.2.0.2 through R"
ip netns exec "$A" ping -c 1 -W 2 fd02::2 > /dev/null || rct_fail "ping fd02::2 through R"

P1=fd01:0000:0000:0000:0000:0000:0000:0001 P2=fd02:0000:0000:0000:0000:0000:0000:0002
UDP='^ipv4 +2 udp +17 [0-9]+ src=10\.1\.0\.1 dst=10\.2\.0\.2 sport=4000 dport=5000 src=10\.2\.0\.2 dst=10\.1\.0\.1 sport=5000 dport=4000 \[ASSURED\] mark=0 use=1$'
ICMP='^ipv4 +2 icmp +1 [0-9]+ src=10\.1\.0\.1 dst=10\.2\.0\.2 type=8 code=0 id=([0-9]+) src=10\.2\.0\.2 dst=10\.1\.0\.1 type=0 code=0 id=[0-9]+ mark=0 use=1$'
ICMP6="^ipv6 +10 icmpv6 +58 [0-9]+ src=$P1 dst=$P2 type=128 code=0 id=[0-9]+ src=$P2 dst=$P1 type=129 code=0 id=[0-9]+ mark=0 use=1\$"
for ns in R A B; do
	l=$(rct_entries "${!ns}")
	got="$(echo "$l" | grep -c .) lines, udp $(echo "$l" | grep -cE "$UDP"), icmp $(echo "$l" | grep -cE "$ICMP"), icmpv6 $(echo "$l" | grep -cE "$ICMP6"), count $(rct_count "${!ns}")"
	if [ "$got" = "3 lines, udp 1, icmp 1, icmpv6 1, count 3" ]; then
		rct_pass "$ns: one entry per flow with the ends' tuples ($got)"
	else
		rct_fail "$ns: $got (want 3 lines, udp 1, icmp 1, icmpv6 1, count 3):"
		echo "$l" | sed 's/^/#   /'
	fi
done
if rct_entries "$R" | grep -qE '10\.[12]\.0\.254|fd0[12]:0000:0000:0000:0000:0000:0000:00fe'; then
	rct_fail "R's own addresses in its entries"
fi
# Per namespace: A and B see each packet once on their side (the creating
# one misses), R once at PRE_ROUTING.
for ns in A R B; do
	d="new +$(( $(rct_stat new "${!ns}") - ${c0[$ns-new]} )), found +$(( $(rct_stat found "${!ns}") - ${c0[$ns-found]} )), invalid +$(( $(rct_stat invalid "${!ns}") - ${c0[$ns-invalid]} ))"
	rct_check "$ns: $d (want new +3, found +4, invalid +0)" [ "$d" = "new +3, found +4, invalid +0" ]
done
rct_exit
