#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Resize the table 20 times while a flood of new flows, an established TCP
# connection, pings and garbage collection run: every resize succeeds, no
# entry is lost (count equals the listed entries), no lookup is missed (a
# missed lookup would show up as an insert clash), no warnings.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_load
D=/proc/sys/net/rconntrack
old_b=$(cat $D/buckets) old_t=$(cat $D/udp_timeout) old_i=$(cat $D/icmp_timeout)
trap '' PIPE
cleanup() {
	rct_pktgen_stop
	kill %1 %2 2>/dev/null
	echo "$old_b" > $D/buckets
	echo "$old_t" > $D/udp_timeout
	echo "$old_i" > $D/icmp_timeout
	cleanup_all_ns
}
trap cleanup EXIT
rct_setup_pair || { rct_fail "setup"; exit $ksft_fail; }
ip -n "$B" route add 10.0.1.0/24 dev vb
# No expiry during the test: count and listing must agree exactly.
echo 600 > $D/udp_timeout
echo 600 > $D/icmp_timeout

rct_tcp_open "$B" 10.0.0.2 8080 "$A" 600 /tmp/rct_rs_srv
echo start >&5
busywait 5000 grep -q start /tmp/rct_rs_srv || rct_fail "TCP connection"
(while true; do ip netns exec "$A" ping -c 1 -W 1 10.0.0.2; done) > /dev/null 2>&1 &

if ! rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 5000; then
	echo "# SKIP: pktgen unavailable"
	exit $ksft_skip
fi
if0=$(rct_stat insert_failed "$B")
ok=1
i=0
for b in 1024 4096 2048 8192 1031 16384 3000 1024 65536 5000 \
	 1024 4096 2048 8192 1031 16384 3000 1024 65536 4096; do
	i=$((i + 1))
	if ! echo $b > $D/buckets; then
		rct_fail "resize #$i to $b refused"
		ok=0
	elif [ "$(cat $D/buckets)" != $b ]; then
		rct_fail "resize #$i: buckets reads $(cat $D/buckets), not $b"
		ok=0
	fi
	echo "data-$i" >&5
	sleep 0.2
done
rct_pktgen_stop
kill %2 2>/dev/null
[ $ok = 1 ] && rct_pass "20 resizes under flood"
sleep 1
n=$(rct_count "$B")
lines=$(rct_entries "$B" | wc -l)
rct_check "no entry lost: count $n = listed $lines" [ "$n" = "$lines" ]
rct_check "entries created during the flood ($n)" [ "$n" -gt 100 ]
if1=$(rct_stat insert_failed "$B")
rct_check "no missed lookup (insert clashes $((if1 - if0)))" [ "$if1" = "$if0" ]
rct_log "search restarts in B: $(rct_stat search_restart "$B")"
echo "data-end" >&5
if busywait 5000 grep -q data-end /tmp/rct_rs_srv && grep -q data-20 /tmp/rct_rs_srv; then
	rct_pass "established connection passed data through every resize"
else
	rct_fail "TCP data lost during resizes"
fi
exec 5>&-
rm -f /tmp/rct_rs_srv
exit $RCT_RET
