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
# expect_buckets LOWMEM_MIB PTR_SIZE: limits.rs default_buckets().
expect_buckets() {
	local b
	if [ "$2" = 8 ] && [ "$1" -gt 4096 ]; then
		b=262144
	elif [ "$1" -gt 1024 ]; then
		b=65536
	else
		b=$(($1 * 64 / $2))
	fi
	[ $b -lt 1024 ] && b=1024
	[ $b -gt 4194304 ] && b=4194304
	echo $b
}
# expect_ceiling LOWMEM_KIB ENTRY_SIZE PERCENT: limits.rs max_ceiling().
expect_ceiling() {
	local budget=$(($1 / 100 * $3)) whole
	whole=$((budget / $2))
	if [ $whole -ge $((2147483647 >> 10)) ]; then
		echo 2147483647
	else
		echo $((whole * 1024 + budget % $2 * 1024 / $2))
	fi
}

rct_unload
# Lowmem as the kernel counts it (totalram - totalhigh), from /proc/meminfo,
# before the load: the expectations do not come from the module.
lowkib=$(rct_lowmem_kib)
highkib=$(awk '/^HighTotal:/ { print $2 }' /proc/meminfo)
highkib=${highkib:-0}
low=$((lowkib >> 10))
if [ "$(uname -m)" = x86_64 ]; then ptr=8; else ptr=4; fi
want_b=$(expect_buckets $low $ptr)
rct_dmesg_mark
rct_load || { rct_fail "insmod"; rct_exit; }
line=$(rct_dmesg_since | grep 'rconntrack: version')
b=$(cat $D/buckets) m=$(cat $D/max) es=$(cat $D/entry_size)
# The slab's own object size, not the module's report of it.
slab_es=$(cat /sys/kernel/slab/rconntrack/object_size 2>/dev/null)
rct_check "entry_size $es = the slab's object_size ${slab_es:-?}" [ "$es" = "${slab_es:-none}" ]
want_c10=$(expect_ceiling "$lowkib" "${slab_es:-1}" 10)
want_m=$want_b
[ "$want_c10" -lt "$want_m" ] && want_m=$want_c10
rct_check "default buckets $b follow lowmem ${low} MiB (want $want_b)" [ "$b" = "$want_b" ]
rct_check "default max $m = min(buckets, ceiling) (want $want_m)" [ "$m" = "$want_m" ]
rct_check "max_ceiling $(cat $D/max_ceiling) at 10% of $lowkib KiB / $es bytes (want $want_c10)" \
	[ "$(cat $D/max_ceiling)" = "$want_c10" ]
want_line="($want_b buckets, $want_m max) - ${slab_es:-?} bytes per conntrack, memory 0 bytes, lowmem $low MiB, highmem $((highkib >> 10)) MiB, ceiling $want_c10 (10% of lowmem)"
if echo "$line" | grep -qF "$want_line"; then
	rct_pass "load line: $want_line"
else
	rct_fail "load line '${line#*] }', want '$want_line'"
fi
floor=$((lowkib / 32))

echo "$PCT" > $D/max_lowmem_percent
ceiling=$(cat $D/max_ceiling)
want_c=$(expect_ceiling "$lowkib" "${slab_es:-1}" "$PCT")
rct_check "ceiling $ceiling at $PCT% (want $want_c)" [ "$ceiling" = "$want_c" ]
if (echo $((ceiling + 1)) > $D/max) 2>/dev/null; then rct_fail "max above ceiling accepted"; fi
echo "$ceiling" > $D/max || rct_fail "max = ceiling refused"
# The flood fills the table to the lowmem ceiling, the bound on all
# namespaces together (max, the same, holds each one). Without HIGHMEM
# (x86_64, KASAN) the flood only needs to show the mechanism: it fills B
# to a smaller max instead.
target=$ceiling
reached() { rct_total; }
if [ "$(uname -m)" = x86_64 ]; then
	target=${RCT_LOWMEM_TARGET:-4000}
	echo "$target" > $D/max
	reached() { rct_count "$B"; }
fi
echo 600 > $D/udp_timeout

rct_setup_pair || { rct_fail "setup"; rct_exit; }
ip -n "$B" route add 10.0.0.0/16 dev vb
rct_tcp_open "$B" 10.0.0.2 8080 "$A" 600 /tmp/rct_lm_srv
echo before >&5
# The connection is made in the background: its entries (and B's "new")
# must be there before the counters below are read, or B's count and
# B's new can see it on either side of the snapshot (off by one, once the
# snapshot's reads became fast enough to race the handshake).
busywait 5000 grep -q before /tmp/rct_lm_srv || rct_fail "TCP connection before the flood"

lf0=$(lowfree)
s() { rct_stat "$1" "$B"; }
n0=$(s new) d0=$(s drop) e0=$(s early_drop) a0=$(s alloc_failed) i0=$(s insert_failed) nB0=$(rct_count "$B")
if ! rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 "${RCT_FLOOD_PPS:-50000}" 10.0.2.1-10.0.255.254; then
	rct_skip "pktgen unavailable"
fi
t0=$(rct_now_ms)
full() { [ "$(reached)" -ge "$target" ]; }
busywait "${RCT_FILL_MS:-300000}" full
full_ms=$(( $(rct_now_ms) - t0 ))
sleep 3
lf1=$(lowfree)
sent=$(rct_pktgen_sent "$A" va)
rct_pktgen_stop
reached=$(reached)
# Let the last packets land.
sleep 1
n1=$(s new) d1=$(s drop) e1=$(s early_drop) a1=$(s alloc_failed) i1=$(s insert_failed)
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
# Every eviction was one of B's flood entries (A's only entry, the TCP
# client end, is ASSURED; the initial namespace has none after the reload),
# and nothing expires (udp_timeout=600): B's entries are exactly those it
# had, plus new, less early_drop, less inserts refused after the allocation.
nB=$(rct_count "$B")
rct_check "B's entries $nB = $nB0 + new $((n1 - n0)) - early_drop $((e1 - e0)) - insert_failed $((i1 - i0))" \
	[ "$nB" = $((nB0 + n1 - n0 - (e1 - e0) - (i1 - i0))) ]
[ "$nB" = $((nB0 + n1 - n0 - (e1 - e0) - (i1 - i0))) ] ||
	rct_log "A: count $(rct_count "$A") new $(rct_stat new "$A") early_drop $(rct_stat early_drop "$A") invalid $(rct_stat invalid "$A"); init: count $(cat $D/count) new $(rct_stat new) early_drop $(rct_stat early_drop); A's entries: $(rct_entries "$A" | head -n 5 | tr '\n' ';')"
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
rct_exit
