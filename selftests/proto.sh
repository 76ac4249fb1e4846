#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# UDP request/reply, ICMP and ICMPv6 echo, reply-direction lookup, and
# netns isolation: an entry in one namespace is invisible in another.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip ping socat
rct_require_pkt
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
# Nothing expires during the test, however slow the machine: the counts
# below are exact. Distinct values tell which timeout an entry got.
echo 300 > $D/udp_timeout
echo 600 > $D/udp_timeout_stream
echo 600 > $D/icmp_timeout
rct_setup_pair || { rct_fail "setup"; rct_exit; }

entry() { # NS PATTERN
	rct_entries "$1" | grep -E "$2"
}

# timeout_in NS PATTERN T0 TMO: the entry's remaining seconds are TMO less
# at most the time since T0 (ms of uptime, taken before its last packet).
timeout_in() {
	local t now
	t=$(entry "$1" "$2" | awk '{ print $5 }')
	now=$(rct_now_ms)
	[ -n "$t" ] && [ "$t" -le "$4" ] && [ "$t" -ge $(($4 - (now - $3 + 999) / 1000 - 1)) ]
}

# UDP: request from A:4000 to B:5353, then the reply B:5353 -> A:4000.
UDP='^ipv4 +2 udp +17 [0-9]+ src=10\.0\.0\.1 dst=10\.0\.0\.2 sport=4000 dport=5353 '
f0=$(rct_stat found "$A")
t0=$(rct_now_ms)
echo query | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:5353,sourceport=4000
e=$(entry "$A" "$UDP")
if echo "$e" | grep -qE "$UDP\[UNREPLIED\] src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=5353 dport=4000 mark=0 use=1\$"; then
	rct_pass "UDP request: entry UNREPLIED"
else
	rct_fail "UDP request entry: '$e'"
fi
rct_check "UDP unreplied: udp_timeout (300 s) left, less the time since sent ($(echo "$e" | awk '{ print $5 }'))" \
	timeout_in "$A" "$UDP" "$t0" 300
# The reply is the only packet of a known flow that reaches A here (B's
# ICMP errors are not tracked).
t0=$(rct_now_ms)
echo reply | ip netns exec "$B" socat -u - UDP4-SENDTO:10.0.0.1:4000,sourceport=5353
busywait 5000 eval '[ "$(rct_stat found "$A")" -gt "$f0" ]'
e=$(entry "$A" "$UDP")
n=$(entry "$A" 'udp' | wc -l)
if echo "$e" | grep -qE "$UDP""src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=5353 dport=4000 mark=0 use=1\$" && [ "$n" = 1 ]; then
	rct_pass "UDP reply found the same entry (one entry, replied, not yet ASSURED)"
else
	rct_fail "UDP reply: $n entries: $e"
fi
f1=$(rct_stat found "$A")
rct_check "reply counted as found once ($f0 -> $f1)" [ "$((f1 - f0))" = 1 ]
# As nf_conntrack_udp_packet(): replied but within 2 s of the first
# packet is still udp_timeout and not ASSURED (a DNS-style exchange);
# traffic both ways later than that is a stream: udp_timeout_stream and
# ASSURED.
rct_check "UDP replied within 2 s: udp_timeout (300 s) left ($(echo "$e" | awk '{ print $5 }'))" \
	timeout_in "$A" "$UDP" "$t0" 300
t_first=$t0
echo again | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:5353,sourceport=4000
e=$(entry "$A" "$UDP")
# Creation was after t_first, this packet before now: under 1.9 s apart
# for sure (the rule's clock has 1/32 s ticks), so not a stream yet. A
# machine slower than that cannot show this case; the late case below
# still runs.
if [ $(($(rct_now_ms) - t_first)) -ge 1900 ]; then
	rct_log "slow machine: the second request came 1.9 s or more after the first"
elif echo "$e" | grep -qE "$UDP""src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=5353 dport=4000 mark=0 use=1\$"; then
	rct_pass "UDP both ways within 2 s: not ASSURED"
else
	rct_fail "UDP both ways within 2 s: want not ASSURED, got: $e"
fi
f2=$(rct_stat found "$A")
rct_check "second request found ($f1 -> $f2)" [ "$((f2 - f1))" = 1 ]
sleep 2.5
t0=$(rct_now_ms)
echo late | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:5353,sourceport=4000
if entry "$A" "$UDP" | grep -qE "$UDP""src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=5353 dport=4000 \[ASSURED\] mark=0 use=1\$"; then
	rct_pass "UDP traffic both ways after 2 s: ASSURED"
else
	rct_fail "UDP not ASSURED after 2 s of traffic both ways: $(entry "$A" "$UDP")"
fi
rct_check "UDP stream: udp_timeout_stream (600 s) left ($(entry "$A" "$UDP" | awk '{ print $5 }'))" \
	timeout_in "$A" "$UDP" "$t0" 600
f3=$(rct_stat found "$A")
rct_check "late request found ($f2 -> $f3)" [ "$((f3 - f2))" = 1 ]

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

# Isolation: A and B each track their side of the same three flows (one
# UDP, one ICMP, one ICMPv6 entry); a third namespace and the initial one
# have none of them.
setup_ns C
for ns in A B; do
	n=$(rct_count "${!ns}")
	l=$(rct_entries "${!ns}")
	per=$(for p in udp icmp icmpv6; do echo "$l" | awk -v p=$p '$3 == p' | wc -l; done | tr '\n' ' ')
	rct_check "$ns: count $n, $(echo "$l" | grep -c .) lines, udp/icmp/icmpv6 entries $per(want 3, 3, 1 1 1)" \
		[ "$n-$(echo "$l" | grep -c .)-$per" = "3-3-1 1 1 " ]
done
nC=$(rct_count "$C")
rct_check "C has none ($nC)" [ "$nC" = 0 ]
if rct_entries "$C" | grep -q . || grep -qE 'src=(10\.0\.0\.[12]|fd00:0000:0000:0000:0000:0000:0000:000[12]) ' /proc/net/rconntrack; then
	rct_fail "entries of A or B visible in another namespace"
else
	rct_pass "entries of A and B invisible in C and in the initial namespace"
fi

# SCTP: the four-way handshake, A the client (rct_pkt sctp SPORT DPORT
# VTAG CHUNKS; B has no SCTP stack): one entry, ESTABLISHED, ASSURED, with
# sctp_timeout_established (210 s) left. The state machine against
# nf_conntrack's: nfct_diff.sh.
SCTP='^ipv4 +2 sctp +132 [0-9]+ ESTABLISHED src=10\.0\.0\.1 dst=10\.0\.0\.2 sport=7000 dport=7001 '
n0=$(rct_stat new "$A")
t0=$(rct_now_ms)
sctp() { # FROM VTAG CHUNKS
	if [ "$1" = A ]; then
		"$RCT_PKT" -N "$A" -r 10.0.0.1 10.0.0.2 sctp 7000 7001 "$2" "$3"
	else
		"$RCT_PKT" -N "$B" -r 10.0.0.2 10.0.0.1 sctp 7001 7000 "$2" "$3"
	fi || rct_fail "rct_pkt sctp $*"
}
sctp A 0 init:4369
sctp B 4369 init_ack:8738
sctp A 8738 cookie_echo
sctp B 4369 cookie_ack
e=$(entry "$A" ' sctp ')
rct_check "SCTP: one entry in A, ESTABLISHED, ASSURED, new +$(($(rct_stat new "$A") - n0)) (got '$e')" \
	eval '[ "$(echo "$e" | grep -c .)" = 1 ] && [ $(($(rct_stat new "$A") - n0)) = 1 ] &&
		echo "$e" | grep -qE "$SCTP""src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=7001 dport=7000 \[ASSURED\] mark=0 use=1\$"'
rct_check "SCTP: sctp_timeout_established (210 s) left ($(echo "$e" | awk '{ print $5 }'))" \
	timeout_in "$A" "$SCTP" "$t0" 210
rct_exit
