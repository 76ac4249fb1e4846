#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Module metadata, the load line, KUnit results, and 50 load/unload cycles
# with traffic: the entry cache is populated while loaded and gone (object
# count back to zero) after every unload.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip insmod rmmod modinfo

rct_unload
info=$(modinfo "$RCT_MODULE")
for k in 'license[:=] *GPL' 'description[:=] *.+' 'author[:=] *.+' 'parm[:=] *max' 'parm[:=] *buckets' 'vermagic[:=] *.+'; do
	if echo "$info" | grep -qE "^$k"; then rct_pass "modinfo $k"; else rct_fail "modinfo lacks $k"; fi
done

rct_dmesg_mark
rct_load || { rct_fail "insmod"; exit $ksft_fail; }
line=$(rct_dmesg_since | grep -E 'rconntrack: version [0-9.]+ \([0-9]+ buckets, [0-9]+ max\) - [0-9]+ bytes per conntrack')
if [ -n "$line" ]; then rct_pass "load line: ${line#*] }"; else rct_fail "no load line"; fi
kunit=$(rct_dmesg_since | grep -E '# rconntrack: pass:[0-9]+ fail:[0-9]+' | tail -n 1)
if echo "$kunit" | grep -qE 'pass:[1-9][0-9]* fail:0 '; then
	rct_pass "KUnit: ${kunit#*# }"
elif [ -z "$kunit" ] && ! grep -q '^CONFIG_KUNIT=y' /proc/config.gz 2>/dev/null && [ ! -d /sys/kernel/debug/kunit ]; then
	rct_log "KUnit not enabled: skipping its check"
else
	rct_fail "KUnit: '${kunit:-no summary}'"
	rct_dmesg_since | grep -E 'not ok|# .*fail' | head -n 20
fi

# The slab object size is what the sysctl and the load line report.
objsize=$(awk '$1 == "rconntrack" { print $4 }' /proc/slabinfo)
esize=$(rct_sysctl entry_size)
if grep -q ' kasan_' /proc/kallsyms; then
	# KASAN adds its metadata to every slot.
	rct_check "entry_size $esize within the KASAN slab slot ${objsize:-?}" [ "$esize" -le "${objsize:-0}" ]
else
	rct_check "entry_size $esize is the slab object size ${objsize:-?}" [ "$esize" = "$objsize" ]
fi

if [ "$(uname -m)" != x86_64 ]; then
	high=$(awk '/^HighTotal:/ { print $2 }' /proc/meminfo)
	rct_check "i386 guest has highmem (HighTotal ${high:-0} kB)" [ "${high:-0}" -gt 0 ]
	low=$(echo "$line" | sed -n 's/.*lowmem \([0-9]*\) MiB.*/\1/p')
	rct_check "load line reports lowmem (${low:-?} MiB) below 900 MiB" [ "${low:-9999}" -lt 900 ]
fi

setup_ns A B
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 10.9.0.1/24 dev va
ip -n "$B" addr add 10.9.0.2/24 dev vb
ip -n "$A" link set va up
ip -n "$B" link set vb up

slab_active() {
	awk '$1 == "rconntrack" { print $2; found = 1 } END { if (!found) print "none" }' /proc/slabinfo
}

bad=0
for i in $(seq 1 50); do
	rct_load || { rct_fail "insmod #$i"; bad=1; break; }
	ip netns exec "$A" ping -c 1 -W 2 10.9.0.2 > /dev/null || { rct_fail "ping #$i"; bad=1; }
	n=$(ip netns exec "$A" cat /proc/sys/net/rconntrack/count)
	act=$(slab_active)
	if [ "$n" -lt 1 ] || [ "$act" = none ] || [ "$act" -lt 1 ]; then
		rct_fail "cycle $i: count=$n slab active=$act while loaded"
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
[ $bad = 0 ] && rct_pass "50 load/unload cycles with traffic, cache empty and destroyed each time"

cleanup_all_ns
exit $RCT_RET
