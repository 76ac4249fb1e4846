#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# UDP request/reply, ICMP and ICMPv6 echo, reply-direction lookup, and
# netns isolation: an entry in one namespace is invisible in another.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc ping socat
trap cleanup_all_ns EXIT
rct_load
rct_setup_pair || { rct_fail "setup"; exit $ksft_fail; }

entry() { # NS PATTERN
	rct_entries "$1" | grep -E "$2"
}

# UDP: request from A:4000 to B:5353, then the reply B:5353 -> A:4000.
f0=$(rct_stat found "$A")
echo query | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:5353,sourceport=4000
e=$(entry "$A" '^ipv4 +2 udp +17 .*sport=4000 dport=5353 ')
if echo "$e" | grep -q UNREPLIED; then rct_pass "UDP request: entry UNREPLIED"; else rct_fail "UDP request entry: '$e'"; fi
t=$(echo "$e" | awk '{print $5}')
rct_check "UDP unreplied timeout ($t s) within udp_timeout" [ "${t:-999}" -le "$(rct_sysctl udp_timeout)" ]
echo reply | ip netns exec "$B" socat -u - UDP4-SENDTO:10.0.0.1:4000,sourceport=5353
e=$(entry "$A" '^ipv4 +2 udp +17 .*sport=4000 dport=5353 ')
n=$(entry "$A" 'udp' | wc -l)
if [ -n "$e" ] && ! echo "$e" | grep -q UNREPLIED && [ "$n" = 1 ]; then
	rct_pass "UDP reply found the same entry (one entry, replied)"
else
	rct_fail "UDP reply: $n entries: $e"
fi
f1=$(rct_stat found "$A")
rct_check "reply counted as found ($f0 -> $f1)" [ "$f1" -gt "$f0" ]
t=$(echo "$e" | awk '{print $5}')
rct_check "UDP replied timeout ($t s) beyond udp_timeout" [ "${t:-0}" -gt "$(rct_sysctl udp_timeout)" ]
echo again | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:5353,sourceport=4000
if entry "$A" 'sport=4000 dport=5353 ' | grep -q ASSURED; then
	rct_pass "UDP traffic both ways: ASSURED"
else
	rct_fail "UDP not ASSURED after traffic both ways"
fi

# ICMP and ICMPv6 echo.
ip netns exec "$A" ping -c 2 -W 2 10.0.0.2 > /dev/null || rct_fail "ping"
e=$(entry "$A" '^ipv4 +2 icmp +1 ')
if echo "$e" | grep -qE 'src=10\.0\.0\.1 dst=10\.0\.0\.2 type=8 code=0 id=[0-9]+ src=10\.0\.0\.2 dst=10\.0\.0\.1 type=0 code=0 id=[0-9]+ mark=0'; then
	rct_pass "ICMP echo entry with its reply"
else
	rct_fail "ICMP entry: '$e'"
fi
ip netns exec "$A" ping -c 2 -W 2 fd00::2 > /dev/null || rct_fail "ping fd00::2"
e=$(entry "$A" '^ipv6 +10 icmpv6 +58 ')
if echo "$e" | grep -qE 'type=128 code=0 id=[0-9]+ src=fd00:0000:0000:0000:0000:0000:0000:0002 .*type=129 code=0' && ! echo "$e" | grep -q UNREPLIED; then
	rct_pass "ICMPv6 echo entry with its reply"
else
	rct_fail "ICMPv6 entry: '$e'"
fi
if entry "$A" 'type=13[3-6]' > /dev/null; then
	rct_fail "neighbour discovery tracked"
else
	rct_pass "neighbour discovery not tracked"
fi

# Isolation: B has its own entries (the receiving side), a third
# namespace and the initial one have none of A's.
setup_ns C
nA=$(rct_count "$A")
nB=$(rct_count "$B")
nC=$(rct_count "$C")
rct_check "A has entries ($nA)" [ "$nA" -ge 3 ]
rct_check "B tracks its side ($nB)" [ "$nB" -ge 3 ]
rct_check "C has none ($nC)" [ "$nC" = 0 ]
if rct_entries "$C" | grep -q . || grep -q 'src=10\.0\.0\.1 ' /proc/net/rconntrack; then
	rct_fail "entries of A visible in another namespace"
else
	rct_pass "entries of A invisible in C and in the initial namespace"
fi
lines=$(rct_entries "$A" | wc -l)
rct_check "A: /proc lines ($lines) match count ($nA)" [ "$lines" = "$nA" ]
exit $RCT_RET
