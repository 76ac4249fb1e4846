#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Races, for RCT_TORTURE_SECS seconds (or /rct/torture_secs; `make
# torture MINUTES=N` sets it): while pktgen floods new flows from both
# vCPUs, /proc/net/rconntrack is read in a loop, the table is resized, and
# two writers race on max and max_lowmem_percent; then failslab fails
# exactly N entry allocations. Asserted: every read succeeds, max never
# ends above the ceiling, table count = sum of namespace counts = lines
# listed, each injected failure is one alloc_failed, the cache is empty
# after unload.
source "$(dirname "$0")/lib.sh"
rct_require_root
secs=${RCT_TORTURE_SECS:-}
[ -z "$secs" ] && [ -r /rct/torture_secs ] && read -r secs < /rct/torture_secs
secs=${secs:-10}
stop=/tmp/rct-torture-stop
cleanup() {
	touch $stop
	rct_pktgen_stop 2>/dev/null
	[ -w /sys/kernel/slab/rconntrack/failslab ] && echo 0 > /sys/kernel/slab/rconntrack/failslab
	cleanup_all_ns
	rm -f $stop
}
trap cleanup EXIT
rm -f $stop
rct_load || { rct_fail "insmod"; exit $ksft_fail; }
# No entry may expire during the run: the invariants compare counts with
# listings, which leave out expired entries that GC has not removed yet.
udp_timeout=$(rct_sysctl udp_timeout)
echo 3600 > /proc/sys/net/rconntrack/udp_timeout
rct_setup_pair || { rct_fail "setup"; exit $ksft_fail; }
ip -n "$B" route add 10.0.1.0/24 dev vb
ip -n "$B" route add 10.0.2.0/24 dev vb
# A bounded tuple space (2 x 16 addresses x 256 ports = 8192 flows): the
# table stays small, so resizes and listings stay quick, and most packets
# are lookups racing with the resizes.
RCT_PKTGEN_SPORTS=1024-1279 rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 2000 \
	10.0.1.1-10.0.1.16 10.0.2.1-10.0.2.16 || rct_skip "pktgen unavailable"

# Readers of the table file, in B and in the initial namespace.
reader() {
	local n=0
	while [ ! -e $stop ]; do
		$1 cat /proc/net/rconntrack > /dev/null || { echo "# FAIL: read $n failed"; return 1; }
		n=$((n + 1))
	done
	echo "# reader ${2}: $n reads"
}
reader "ip netns exec $B" B > /tmp/rct-reader-b 2>&1 &
rb=$!
reader "" init > /tmp/rct-reader-i 2>&1 &
ri=$!
# Two writers racing on the limit and its ceiling (the ceiling at 1% is
# below the max the other writes).
ceil10=$(rct_sysctl max_ceiling)
echo 1 > /proc/sys/net/rconntrack/max_lowmem_percent 2>/dev/null
ceil1=$(rct_sysctl max_ceiling)
echo 10 > /proc/sys/net/rconntrack/max_lowmem_percent
orig_max=$(rct_sysctl max)
# Each rejected write logs a line: pace the writers (20 rounds a second).
(while [ ! -e $stop ]; do
	echo "$ceil10" > /proc/sys/net/rconntrack/max 2>/dev/null
	echo "$ceil1" > /proc/sys/net/rconntrack/max 2>/dev/null
	sleep 0.05
done) &
w1=$!
(while [ ! -e $stop ]; do
	echo 1 > /proc/sys/net/rconntrack/max_lowmem_percent 2>/dev/null
	echo 10 > /proc/sys/net/rconntrack/max_lowmem_percent 2>/dev/null
	sleep 0.05
done) &
w2=$!
end=$(( $(rct_now_ms) + secs * 1000 ))
resizes=0
while [ "$(rct_now_ms)" -lt "$end" ]; do
	for b in 1024 8192 2048 16384; do
		echo $b > /proc/sys/net/rconntrack/buckets || rct_fail "resize to $b"
		resizes=$((resizes + 1))
	done
done
touch $stop
wait $rb; rc_b=$?
wait $ri; rc_i=$?
# Not a bare wait: pktgen's start command runs until pktgen stops.
wait $w1 $w2
cat /tmp/rct-reader-b /tmp/rct-reader-i
rct_check "/proc/net/rconntrack reads under $resizes resizes, in B" [ $rc_b = 0 ]
rct_check "/proc/net/rconntrack reads under $resizes resizes, in init" [ $rc_i = 0 ]
# Only the state the race leaves can be checked: max and max_ceiling are
# two reads, and the writers can move both between them (max read at
# ceil10, then max set to ceil1 and the ceiling lowered to it) whatever
# the module does.
rct_check "max ($(rct_sysctl max)) not above the ceiling ($(rct_sysctl max_ceiling)) after the race" \
	[ "$(rct_sysctl max)" -le "$(rct_sysctl max_ceiling)" ]
echo 10 > /proc/sys/net/rconntrack/max_lowmem_percent
echo "$orig_max" > /proc/sys/net/rconntrack/max
rm -f $stop

# Exactly N failed allocations under a flood of new flows.
rct_pktgen_stop
rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 2000 \
	10.0.3.1-10.0.3.254 10.0.4.1-10.0.4.254 || rct_skip "pktgen unavailable"
ip -n "$B" route add 10.0.3.0/24 dev vb
ip -n "$B" route add 10.0.4.0/24 dev vb
F=/sys/kernel/debug/failslab
if [ -w /sys/kernel/slab/rconntrack/failslab ] && [ -d $F ]; then
	failed() {
		echo $(( $(rct_stat alloc_failed) + $(rct_stat alloc_failed "$A") + $(rct_stat alloc_failed "$B") ))
	}
	before=$(failed)
	echo 0 > $F/verbose
	echo Y > $F/cache-filter
	echo 1 > $F/interval
	echo 0 > $F/space
	echo 200 > $F/times
	echo 100 > $F/probability
	echo 1 > /sys/kernel/slab/rconntrack/failslab
	busywait 30000 eval '[ "$(cat $F/times)" = 0 ]' || rct_fail "failslab did not fire 200 times (left $(cat $F/times))"
	echo 0 > /sys/kernel/slab/rconntrack/failslab
	echo 0 > $F/probability
	rct_check "200 injected entry allocation failures = 200 alloc_failed ($(( $(failed) - before )))" \
		[ $(( $(failed) - before )) = 200 ]
else
	rct_skip "failslab unavailable (CONFIG_FAILSLAB, /sys/kernel/slab/rconntrack/failslab)"
fi

# make torture ARCH=i386: the table at 1M entries, read through
# /proc/net/rconntrack (seq_file one bucket at a time: no multi-megabyte
# buffer, which i386's vmalloc space could not give).
big=${RCT_TORTURE_BIG:-}
[ -z "$big" ] && [ -r /rct/torture_big ] && read -r big < /rct/torture_big
if [ "${big:-0}" = 1 ]; then
	rct_pktgen_stop
	echo 262144 > /proc/sys/net/rconntrack/buckets
	echo 1000000 > /proc/sys/net/rconntrack/max || rct_fail "max 1000000 refused (ceiling $(rct_sysctl max_ceiling))"
	RCT_PKTGEN_SPORTS=1024-65000 rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 200000 \
		10.0.5.1-10.0.5.254 10.0.6.1-10.0.6.254 || rct_skip "pktgen unavailable"
	ip -n "$B" route add 10.0.5.0/24 dev vb
	ip -n "$B" route add 10.0.6.0/24 dev vb
	busywait 600000 eval '[ "$(rct_count "$B")" -ge 1000000 ]' ||
		rct_fail "B did not reach 1M entries ($(rct_count "$B"))"
	rct_pktgen_stop
	c=$(rct_count "$B")
	t0=$(rct_now_ms)
	l=$(rct_entries "$B" | wc -l)
	rct_check "1M-entry table: $l lines listed = count $c ($(( $(rct_now_ms) - t0 )) ms)" [ "$l" = "$c" ]
	rct_log "LowFree $(awk '/^LowFree:/ { print $2 }' /proc/meminfo) kB at $c entries"
	echo "$orig_max" > /proc/sys/net/rconntrack/max
fi

rct_pktgen_stop
# Invariants, with the flood stopped: the table's count is the sum of the
# namespaces', and each namespace lists as many lines as it counts.
sum=$(( $(rct_count "$A") + $(rct_count "$B") + $(rct_sysctl count) ))
rct_check "table count $(rct_total) = sum of namespace counts $sum" [ "$(rct_total)" = "$sum" ]
for ns in "$A" "$B"; do
	c=$(rct_count "$ns")
	l=$(rct_entries "$ns" | wc -l)
	rct_check "namespace ${ns%%-*}: $l lines listed = count $c" [ "$l" = "$c" ]
done
cleanup_all_ns
echo "$udp_timeout" > /proc/sys/net/rconntrack/udp_timeout
rmmod rconntrack || rct_fail "rmmod"
rct_check "entry cache gone after unload" eval '! grep -qE "^rconntrack(_nat6)? " /proc/slabinfo'
rct_exit
