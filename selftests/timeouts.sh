#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Timeouts set by sysctl, checked without racing the clock: an entry's
# expiry is fixed by the timeout in force when a packet of its flow
# passes, and /proc/net/rconntrack prints the seconds it has left. The
# flows have fixed tuples (socat with a source port; rct_pkt -r for an
# ICMP echo with a fixed identifier, which B answers), so a later packet
# is the same flow, not a new one as with ping.
#
# 1. Five UDP flows and one echo flow under long timeouts: exactly 6 new,
#    1 found (the echo reply), 6 entries, each with the long timeout left
#    less the measured time since it was sent, however slow the machine.
# 2. Short timeouts: one more packet on each flow re-arms it with the
#    short timeout (new +0, found +7: 5 datagrams, the echo and its reply;
#    at most the short timeout left); then every entry vanishes from /proc
#    and garbage collection brings the count to 0.
# 3. The same flows after expiry are new again (new +2, found +1: the
#    reply of the new echo entry).
# 4. A refreshed entry: one UDP flow, a datagram, then another one seconds
#    later: the same single entry (new +0, found +1) whose expiry moved
#    forward by the time between them.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip socat
rct_require_pkt
rct_load
D=/proc/sys/net/rconntrack
old_udp=$(rct_sysctl udp_timeout)
old_icmp=$(rct_sysctl icmp_timeout)
restore() {
	echo "$old_udp" > $D/udp_timeout
	echo "$old_icmp" > $D/icmp_timeout
	cleanup_all_ns
}
trap restore EXIT
rct_setup_pair || { rct_fail "setup"; rct_exit; }

LONG=600
SHORT=2
ID=7777
# send SPORT: one datagram from A:SPORT to B:9999 (no listener: B answers
# with an ICMP error, which is not tracked).
send() {
	echo x | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:9999,sourceport="$1" 2>/dev/null ||
		rct_fail "socat from port $1"
}
# echo_req SEQ: an echo request with identifier ID from A to B (B's reply
# is found in A; delta waits for it).
echo_req() {
	"$RCT_PKT" -N "$A" -r 10.0.0.1 10.0.0.2 icmp $ID "$1" || rct_fail "rct_pkt echo $1"
}
s() { rct_stat "$1" "$A"; }
set_timeouts() {
	echo "$1" > $D/udp_timeout
	echo "$1" > $D/icmp_timeout
}
# delta WHAT BASE_NEW BASE_FOUND WANT_NEW WANT_FOUND: check A's counters,
# waiting (for an echo reply) until found reaches its goal.
delta() {
	# shellcheck disable=SC2034 # base, want: used in the eval below
	local base=$3 want=$5 dn df
	busywait 5000 eval '[ $(($(s found) - base)) -ge "$want" ]'
	dn=$(($(s new) - $2)) df=$(($(s found) - $3))
	rct_check "$1: new +$dn (want $4), found +$df (want $5)" [ "$dn-$df" = "$4-$5" ]
}

# 1. Counting under long timeouts.
set_timeouts $LONG
rct_check "udp_timeout and icmp_timeout read back $LONG" \
	[ "$(rct_sysctl udp_timeout)-$(rct_sysctl icmp_timeout)" = $LONG-$LONG ]
new0=$(s new) found0=$(s found)
t0=$(rct_now_ms)
for p in 4001 4002 4003 4004 4005; do send $p; done
echo_req 1
# The echo reply is the only packet of a known flow that A receives.
delta "5 UDP flows + 1 echo" "$new0" "$found0" 6 1
n=$(rct_count "$A")
list=$(rct_entries "$A")
t1=$(rct_now_ms)
lo=$((LONG - (t1 - t0 + 999) / 1000 - 1))
bad=$(echo "$list" | awk -v lo=$lo -v hi=$LONG '$5 < lo || $5 > hi')
nudp=$(echo "$list" | grep -cE '^ipv4 +2 udp +17 [0-9]+ src=10\.0\.0\.1 dst=10\.0\.0\.2 sport=400[1-5] dport=9999 \[UNREPLIED\] src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=9999 dport=400[1-5] mark=0 use=1$')
nicmp=$(echo "$list" | grep -cE "^ipv4 +2 icmp +1 [0-9]+ src=10\.0\.0\.1 dst=10\.0\.0\.2 type=8 code=0 id=$ID src=10\.0\.0\.2 dst=10\.0\.0\.1 type=0 code=0 id=$ID mark=0 use=1\$")
if [ "$n" = 6 ] && [ "$(echo "$list" | grep -c .)" = 6 ] && [ "$nudp-$nicmp" = 5-1 ] && [ -z "$bad" ]; then
	rct_pass "count 6, 6 entries listed (5 UDP UNREPLIED, 1 echo replied), each with $lo..$LONG s left"
else
	rct_fail "count $n, want 5 UDP + 1 ICMP lines with $lo..$LONG s left, got $nudp + $nicmp:"
	echo "$list" | sed 's/^/#   /'
fi

# 2. Short timeouts: a packet re-arms its entry with the timeout in force.
set_timeouts $SHORT
new1=$(s new) found1=$(s found)
for p in 4001 4002 4003 4004 4005; do send $p; done
echo_req 2
delta "one more packet per flow" "$new1" "$found1" 0 7
# Whatever is still listed was re-armed: at most SHORT seconds left (each
# had about LONG before). The first ones may be gone already.
bad=$(rct_entries "$A" | awk -v hi=$SHORT '$5 > hi')
rct_check "re-armed entries have at most $SHORT s left" [ -z "$bad" ]
if busywait 30000 eval '[ -z "$(rct_entries "$A")" ]'; then
	rct_pass "expired entries gone from /proc"
else
	rct_fail "entries still listed after their timeout"
	rct_entries "$A" | sed 's/^/#   /'
fi
if busywait 30000 eval '[ "$(rct_count "$A")" = 0 ]'; then
	rct_pass "garbage collection brought count to 0"
else
	rct_fail "count stuck at $(rct_count "$A")"
fi

# 3. Expired flows get fresh entries, counted as new (not found: the
# expired entry is gone, or is removed by the lookup).
set_timeouts $LONG
new2=$(s new) found2=$(s found)
send 4001
echo_req 3
delta "same flows after expiry" "$new2" "$found2" 2 1

# 4. Refresh: flow 4001 again, seconds later. An entry's expiry X lies in
# [start + left, end + left + 1] for a read from start to end (ms of
# uptime; reads done inside the namespace, so the window is one cat).
# expiry_bounds: "LO HI" of X for flow 4001, or nothing.
expiry_bounds() {
	ip netns exec "$A" sh -c 'cat /proc/uptime; cat /proc/net/rconntrack; cat /proc/uptime' |
		awk '
		NF == 2 && !got { s = $1; got = 1; next }
		NF == 2 { e = $1; next }
		/ sport=4001 dport=9999 / { n++; left = $5 }
		END { if (n == 1) printf "%d %d\n", int((s + left) * 1000 + 0.5), int((e + left + 1) * 1000 + 0.5) }'
}
b1=$(expiry_bounds)
read -r lo1 hi1 <<< "$b1"
# The refreshed expiry X2 is X1 plus the time between the two packets
# (at least this read's window plus the sleep); lo2 > hi1 once that
# exceeds both read windows (hi - lo - 1 s each) plus 2 s, so the sleep
# must exceed the next read's window plus 2 s: twice this one's, rounded
# up, plus 2.
win=$(( ${hi1:-0} - ${lo1:-0} - 1000 ))
sleep $(( (2 * win + 999) / 1000 + 2 ))
new3=$(s new) found3=$(s found)
send 4001
b2=$(expiry_bounds)
read -r lo2 hi2 <<< "$b2"
delta "refresh of flow 4001" "$new3" "$found3" 0 1
n=$(rct_entries "$A" | grep -c ' sport=4001 dport=9999 ')
rct_check "refresh: one entry for the flow ($n)" [ "$n" = 1 ]
if [ -n "$b1" ] && [ -n "$b2" ] && [ "$lo2" -gt "$hi1" ]; then
	rct_pass "refreshed entry's expiry moved forward (was ${lo1}..${hi1} ms, now ${lo2}..${hi2} ms of uptime)"
else
	rct_fail "refreshed entry's expiry did not move: before '$b1', after '$b2' (ms of uptime)"
fi
rct_exit
