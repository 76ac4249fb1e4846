#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Module metadata, the load line (every figure checked against the sysctls,
# /proc/meminfo and the kernel config), KUnit results, entry_size = the
# slab's object size, and 10 load/unload cycles with traffic: one entry
# and a populated cache while loaded, the cache gone after every unload.
# (unload_flood.sh unloads under a flood.)
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip insmod rmmod modinfo zcat
D=/proc/sys/net/rconntrack
CYCLES=10

rct_unload
info=$(modinfo "$RCT_MODULE")
for k in 'license[:=] *GPL' 'description[:=] *.+' 'author[:=] *.+' 'parm[:=] *max' 'parm[:=] *buckets' 'vermagic[:=] *.+'; do
	if echo "$info" | grep -qE "^$k"; then rct_pass "modinfo $k"; else rct_fail "modinfo lacks $k"; fi
done

# The kernel's config: /proc/config.gz (CONFIG_IKCONFIG_PROC=y).
if [ -r /proc/config.gz ]; then
	rct_pass "/proc/config.gz present"
else
	rct_fail "/proc/config.gz missing: the test kernels have CONFIG_IKCONFIG_PROC=y"
	rct_exit
fi
has() { rct_kconfig "$1"; }

# Our KUnit suites run at this load (the guest job turns them off for
# the other loads of the suite).
kunit_was=$(rct_kunit 'rconntrack*') || rct_fail "cannot set kunit.filter_glob"
rct_dmesg_mark
rct_load || { rct_fail "insmod"; rct_exit; }
since=$(rct_dmesg_since)
rct_kunit "${kunit_was:-rconntrack*}" > /dev/null
line=$(echo "$since" | grep -E 'rconntrack: version [0-9.]+ \(')
# The figures the load line must show, from elsewhere.
lowkib=$(rct_lowmem_kib)
highkib=$(awk '/^HighTotal:/ { print $2 }' /proc/meminfo)
# nf_conntrack's CONNTRACK_LOCKS, with or without lockdep (a resize never
# holds more than two).
locks=1024
want="($(cat $D/buckets) buckets, $(cat $D/max) max) - $(cat $D/entry_size) bytes per conntrack, memory 0 bytes, lowmem $((lowkib >> 10)) MiB, highmem $(( ${highkib:-0} >> 10 )) MiB, ceiling $(cat $D/max_ceiling) (10% of lowmem), $locks locks"
if echo "$line" | grep -qE 'rconntrack: version [0-9]+\.[0-9]+\.[0-9]+ \(' && echo "$line" | grep -qF "$want"; then
	rct_pass "load line: ${line#*] }"
else
	rct_fail "load line '${line#*] }', want '... $want'"
fi

# "pass:P fail:F skip:S total:T" for each suite: every test ran and passed
# (rconntrack: the logic and the table; rconntrack_abi: the i386 calling
# convention, see rust/kunit_abi.rs).
for suite in rconntrack rconntrack_abi; do
	kunit=$(echo "$since" | grep -E "# $suite: pass:[0-9]+ fail:[0-9]+" | tail -n 1)
	read -r kp kf ks kt <<< "$(echo "$kunit" | sed -n 's/.*pass:\([0-9]*\) fail:\([0-9]*\) skip:\([0-9]*\) total:\([0-9]*\).*/\1 \2 \3 \4/p')"
	if ! has KUNIT; then
		rct_fail "kernel without CONFIG_KUNIT=y (selftests/config requires it)"
	elif [ -n "$kt" ] && [ "$kt" -gt 0 ] && [ "$kp-$kf-$ks" = "$kt-0-0" ]; then
		rct_pass "KUnit: ${kunit#*# }"
	else
		rct_fail "KUnit $suite: '${kunit:-no summary}'"
		echo "$since" | grep -E 'not ok|# .*fail' | head -n 20
	fi
done

# entry_size is the slab cache's object size (kmem_cache_size); the slot
# (slabinfo's objsize) is the same without KASAN or SLUB debugging
# (slub_debug=FZPU on the i386 guest), larger with them (their metadata
# and redzones).
objsize=$(cat /sys/kernel/slab/rconntrack/object_size 2>/dev/null)
slot=$(awk '$1 == "rconntrack" { print $4 }' /proc/slabinfo)
esize=$(rct_sysctl entry_size)
rct_check "entry_size $esize = the slab's object_size ${objsize:-?}" [ "$esize" = "${objsize:-none}" ]
# Rewritten IPv6 connections: the entry and the 38-byte tuple they left
# with, 8-byte aligned: 40 bytes more (README, IPv6 NAT).
nat6=$(cat /sys/kernel/slab/rconntrack_nat6/object_size 2>/dev/null)
rct_check "rconntrack_nat6 object_size ${nat6:-?} = entry_size $esize + 40" [ "${nat6:-0}" = $((esize + 40)) ]
slub_dbg=0
for f in red_zone poison sanity_checks store_user; do
	[ "$(cat /sys/kernel/slab/rconntrack/$f 2>/dev/null)" = 1 ] && slub_dbg=1
done
if has KASAN || [ $slub_dbg = 1 ]; then
	rct_check "KASAN or SLUB debugging: slab slot ${slot:-?} larger than entry_size $esize (> 0)" \
		[ "$esize" -gt 0 -a "${slot:-0}" -gt "$esize" ]
else
	rct_check "entry_size $esize is the slab slot ${slot:-?}" [ "$esize" = "${slot:-none}" ]
fi

if [ "$(uname -m)" != x86_64 ]; then
	rct_check "i386 guest has highmem (HighTotal ${highkib:-0} kB)" [ "${highkib:-0}" -gt 0 ]
	low=$(echo "$line" | sed -n 's/.*lowmem \([0-9]*\) MiB.*/\1/p')
	rct_check "load line reports lowmem (${low:-?} MiB) below 900 MiB" [ "${low:-9999}" -lt 900 ]
fi

setup_ns A B
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 10.9.0.1/24 dev va
ip -n "$B" addr add 10.9.0.2/24 dev vb
ip -n "$A" link set va up
ip -n "$B" link set vb up

# slab_active: active objects of the cache, "none" without the cache.
slab_active() {
	awk '$1 == "rconntrack" { print $2; found = 1 } END { if (!found) print "none" }' /proc/slabinfo
}

bad=0
for i in $(seq 1 $CYCLES); do
	rct_load || { rct_fail "insmod #$i"; bad=1; break; }
	ip netns exec "$A" ping -c 1 -W 2 10.9.0.2 > /dev/null || { rct_fail "ping #$i"; bad=1; }
	n=$(ip netns exec "$A" cat $D/count)
	act=$(slab_active)
	# One echo: one entry in A; the cache holds at least A's and B's.
	if [ "$n" != 1 ] || ! [ "$act" -ge 2 ] 2>/dev/null; then
		rct_fail "cycle $i: count '$n' (want 1), slab active '$act' (want >= 2) while loaded"
		bad=1
	fi
	rmmod rconntrack || { rct_fail "rmmod #$i"; bad=1; break; }
	act=$(slab_active)
	if [ "$act" != none ]; then
		rct_fail "cycle $i: cache still present after unload (active=$act)"
		bad=1
	fi
	[ $bad = 1 ] && break
done
[ $bad = 0 ] && rct_pass "$CYCLES load/unload cycles with traffic, one entry and a live cache each time, cache destroyed after"

cleanup_all_ns
rct_exit
