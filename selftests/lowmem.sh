#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The lowmem experiment (on i386 with HIGHMEM; on x86_64 lowmem is all
# RAM): defaults follow lowmem, max is capped by max_lowmem_percent of it,
# and a flood that fills the table to its ceiling leaves lowmem above the
# floor, no OOM kill, loopback and an established connection working, and
# every refused flow counted.
source "$(dirname "$0")/lib.sh"
rct_require_root
D=/proc/sys/net/rconntrack
PCT=${RCT_LOWMEM_PCT:-1}
trap '' PIPE
cleanup() {
	rct_pktgen_stop
	kill %1 2>/dev/null
	cleanup_all_ns
	rct_unload
}
trap cleanup EXIT
# LowFree where there is highmem, else MemFree (KiB).
lowfree() {
	awk '/^LowFree:/ { l = $2 } /^MemFree:/ { m = $2 } END { print (l != "" ? l : m) }' /proc/meminfo
}
rct_unload
rct_dmesg_mark
rct_load || { rct_fail "insmod"; exit $ksft_fail; }
line=$(rct_dmesg_since | grep 'rconntrack: version')
low=$(echo "$line" | sed -n 's/.*lowmem \([0-9]*\) MiB.*/\1/p')
b=$(cat $D/buckets) m=$(cat $D/max) es=$(cat $D/entry_size)
if [ "$(uname -m)" = x86_64 ]; then ptr=8; else ptr=4; fi
want=$((low * 64 / ptr))
[ "$low" -gt 1024 ] && want=65536
[ "$want" -lt 1024 ] && want=1024
rct_check "default buckets $b follow lowmem ${low} MiB (expected $want)" [ "$b" = "$want" ]
rct_check "default max $m = buckets" [ "$m" = "$b" ]
lowtotal=$(awk '/^LowTotal:/ { print $2 } /^MemTotal:/ { t = $2 } END { if (!NR) print t }' /proc/meminfo)
[ -n "$lowtotal" ] || lowtotal=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
floor=$((lowtotal / 32))

echo "$PCT" > $D/max_lowmem_percent
ceiling=$(cat $D/max_ceiling)
rct_check "ceiling $ceiling entries x $es bytes within $PCT% of lowmem" \
	[ $((ceiling * es / 1024)) -le $(((low + 1) * 1024 * PCT / 100)) ]
if (echo $((ceiling + 1)) > $D/max) 2>/dev/null; then rct_fail "max above ceiling accepted"; fi
echo "$ceiling" > $D/max || rct_fail "max = ceiling refused"
# Without HIGHMEM (x86_64, KASAN) the flood only needs to show the
# mechanism: fill a smaller table.
target=$ceiling
if [ "$(uname -m)" = x86_64 ]; then
	target=${RCT_LOWMEM_TARGET:-4000}
	echo "$target" > $D/max
fi
echo 600 > $D/udp_timeout

rct_setup_pair || { rct_fail "setup"; exit $ksft_fail; }
ip -n "$B" route add 10.0.0.0/16 dev vb
rct_tcp_open "$B" 10.0.0.2 8080 "$A" 600 /tmp/rct_lm_srv
echo before >&5

lf0=$(lowfree)
s() { rct_stat "$1" "$B"; }
n0=$(s new) d0=$(s drop) e0=$(s early_drop) a0=$(s alloc_failed)
if ! rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 "${RCT_FLOOD_PPS:-50000}" 10.0.2.1-10.0.255.254; then
	echo "# SKIP: pktgen unavailable"
	exit $ksft_skip
fi
t0=$(rct_now_ms)
full() { [ $(($(rct_count "$A") + $(rct_count "$B"))) -ge "$target" ]; }
busywait "${RCT_FILL_MS:-300000}" full
full_ms=$(( $(rct_now_ms) - t0 ))
sleep 3
lf1=$(lowfree)
sent=$(rct_pktgen_sent "$A" va)
rct_pktgen_stop
reached=$(($(rct_count "$A") + $(rct_count "$B")))
n1=$(s new) d1=$(s drop) e1=$(s early_drop) a1=$(s alloc_failed)
mem=$(cat $D/memory_bytes)

printf '# %-28s %s\n' "lowmem (MiB)" "$low" "max_lowmem_percent" "$PCT" \
	"ceiling" "$ceiling" "max" "$target" "entries reached" "$reached" \
	"entry size (bytes)" "$es" "memory used (KiB)" "$((mem / 1024))" \
	"LowFree before (KiB)" "$lf0" "LowFree after (KiB)" "$lf1" \
	"floor (KiB)" "$floor" "packets sent" "${sent:-?}" \
	"new / early_drop" "$((n1 - n0)) / $((e1 - e0))" \
	"drop / alloc_failed" "$((d1 - d0)) / $((a1 - a0))" "time to fill (ms)" "$full_ms"
rct_check "table filled to max ($reached of $target)" [ "$reached" = "$target" ]
rct_check "LowFree $lf1 KiB above the floor $floor KiB" [ "$lf1" -gt "$floor" ]
rct_check "flows beyond max were evicted or dropped, and counted (early_drop $((e1 - e0)), drop $((d1 - d0)))" \
	[ $((e1 - e0 + d1 - d0)) -gt 0 ]
nB=$(rct_count "$B")
rct_check "B's entries ($nB) = new - early_drop - alloc_failed + 1 (its TCP end)" \
	[ "$nB" -le $((n1 - n0 - (e1 - e0) + 1)) ]
if rct_dmesg_since | grep -qiE 'out of memory|oom-kill|page allocation failure'; then
	rct_fail "memory pressure reports in dmesg"
else
	rct_pass "no OOM kill or allocation failure report"
fi
if out=$(ping -c 3 -W 3 127.0.0.1 2>&1); then
	rct_pass "loopback ping answers on a full table (evicting an unanswered flow)"
else
	echo "$out" | sed 's/^/#   /'
	rct_fail "loopback ping: init ns early_drop $(rct_stat early_drop) drop $(rct_stat drop) alloc_failed $(rct_stat alloc_failed), count $(rct_count "$A")+$(rct_count "$B") of $(cat $D/max)"
fi
echo after >&5
busywait 5000 grep -q after /tmp/rct_lm_srv && rct_pass "established TCP passes on a full table" ||
	rct_fail "established TCP broken"
exec 5>&-
rm -f /tmp/rct_lm_srv
echo 10 > $D/max_lowmem_percent 2>/dev/null
exit $RCT_RET
