#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Table full: max=100 and 1000 new flows. The count never exceeds 100,
# early_drop and drop account for every flow that was not tracked, the
# log line appears, and an established connection keeps passing.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc
rct_load
old_max=$(rct_sysctl max) old_udp=$(rct_sysctl udp_timeout)
trap '' PIPE
restore() {
	echo "$old_max" > /proc/sys/net/rconntrack/max
	echo "$old_udp" > /proc/sys/net/rconntrack/udp_timeout
	cleanup_all_ns
	kill %1 %2 2>/dev/null
}
trap restore EXIT
rct_setup_pair || { rct_fail "setup"; exit $ksft_fail; }
echo 100 > /proc/sys/net/rconntrack/max
# Nothing may expire during the count (GC removals are not counted).
echo 600 > /proc/sys/net/rconntrack/udp_timeout
rct_check "max reads back 100" [ "$(rct_sysctl max)" = 100 ]

# An established, assured connection before the flood.
rct_tcp_open "$B" 10.0.0.2 8080 "$A" 600 /tmp/rct_full_srv
echo before >&5
busywait 5000 grep -q before /tmp/rct_full_srv || rct_fail "connection before flood"
busywait 5000 eval '[ "$(rct_tcp_state "$A" 8080)" = ESTABLISHED ]' || rct_fail "not established"

# Counters of A (where the flows start) and B (where they arrive); both
# namespaces' entries share the one global max.
s() { rct_stat "$1" "$A"; }
sb() { rct_stat "$1" "$B"; }
total() { echo $(( $(cat /proc/sys/net/rconntrack/memory_bytes) / $(rct_sysctl entry_size) )); }
new0=$(s new) drop0=$(s drop) af0=$(s alloc_failed)
all0=$(( $(s new) + $(sb new) - $(s early_drop) - $(sb early_drop) - $(s insert_failed) - $(sb insert_failed) ))
t0=$(total)
rct_dmesg_mark
# 1000 flows from A, one datagram each from a new socket (bash /dev/udp),
# sampling the global entry count every 50 flows.
peak=$(ip netns exec "$A" bash -c '
	D=/proc/sys/net/rconntrack
	peak=0
	for i in $(seq 1 1000); do
		echo x 2>/dev/null > /dev/udp/10.0.0.2/$((10000 + i))
		if [ $((i % 50)) = 0 ]; then
			c=$(( $(cat $D/memory_bytes) / $(cat $D/entry_size) ))
			[ "$c" -gt "$peak" ] && peak=$c
		fi
	done
	echo $peak')
new1=$(s new) drop1=$(s drop) af1=$(s alloc_failed)
all1=$(( $(s new) + $(sb new) - $(s early_drop) - $(sb early_drop) - $(s insert_failed) - $(sb insert_failed) ))
t1=$(total)
dn=$((new1 - new0)) dd=$((drop1 - drop0)) da=$((af1 - af0))
rct_log "flows 1000 from A: new $dn, drop $dd, alloc_failed $da; A+B entries $t0 -> $t1 (peak $peak); A: early_drop $(s early_drop), B: new $(sb new) early_drop $(sb early_drop)"
rct_check "entries never above max (peak $peak, final $t1)" [ "$peak" -le 100 -a "$t1" -le 100 ]
rct_check "every flow tracked or dropped in A: new + drop + alloc_failed = 1000" [ $((dn + dd + da)) = 1000 ]
rct_check "entries added = new - early_drop - insert_failed (A and B)" [ $((t1 - t0)) = $((all1 - all0)) ]
rct_check "flows were dropped ($dd)" [ "$dd" -gt 0 ]
if rct_dmesg_since | grep -q 'rconntrack: table full, dropping packet'; then
	rct_pass "log line 'table full, dropping packet'"
else
	rct_fail "no 'table full' log line"
fi

# The established connection survived (ASSURED is never early-dropped,
# and a known flow needs no new entry).
echo after >&5
if busywait 5000 grep -q after /tmp/rct_full_srv; then
	rct_pass "established connection still passes"
else
	rct_fail "established connection broken by the full table"
fi
exec 5>&-
rm -f /tmp/rct_full_srv
exit $RCT_RET
