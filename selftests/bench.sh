#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmarks (not tests; `make bench`). One guest boot under -icount, so
# guest time counts instructions and repeats agree to ~0.2%.
#
# 1. Per-packet cost: pktgen sends COUNT UDP packets from A to B over veth,
#    either all of one flow (every packet a lookup hit) or each from a
#    random source port and address (mostly new flows), with: no tracking,
#    rconntrack, nf_conntrack (enabled in B by an nft ct rule). pktgen's own
#    rate (one CPU: sender and receiver softirq share it) is reported with
#    ratios against no tracking and against nf_conntrack.
# 2. Memory: the same flood of new flows until each tracker holds MAX
#    entries (nf_conntrack_max raised to the same value): entries reached,
#    slab bytes per entry, lowmem used.
# 3. The neighbour patches: bench_neigh.sh.
source "$(dirname "$0")/lib.sh"
COUNT=${COUNT:-100000}
MAX=${MAX:-300000}
D=/proc/sys/net/rconntrack
echo /usr/bin/modprobe > /proc/sys/kernel/modprobe

lowfree() {
	awk '/^LowFree:/ { l = $2 } /^MemFree:/ { m = $2 } END { print (l != "" ? l : m) }' /proc/meminfo
}

setup() {
	cleanup_all_ns
	rct_setup_pair
	ip -n "$B" route add 10.0.0.0/16 dev vb
}

nf_on() { # enable nf_conntrack in B (a ct rule needs it)
	ip netns exec "$B" nft -f - <<-'NFT'
	table inet rctbench {
		chain pre {
			type filter hook prerouting priority 0; policy accept;
			ct state new counter
		}
	}
	NFT
}

# run MODE RND: pktgen rate in pps for COUNT packets.
run() {
	local mode=$1 rnd=$2 res
	setup
	case $mode in
	rconntrack) rct_load ;;
	nf_conntrack) nf_on || { echo "nft failed" >&2; return 1; } ;;
	esac
	ip netns exec "$A" sh -c "
		echo rem_device_all > /proc/net/pktgen/kpktgend_0
		echo 'add_device va' > /proc/net/pktgen/kpktgend_0
		for c in 'count $COUNT' 'clone_skb 0' 'pkt_size 64' 'dst 10.0.0.2' \
			'dst_mac 02:00:00:00:00:02' 'udp_dst_min 9' 'udp_dst_max 9'; do
			echo \"\$c\" > /proc/net/pktgen/va
		done
		if [ $rnd = 1 ]; then
			for c in 'src_min 10.0.2.1' 'src_max 10.0.255.254' 'udp_src_min 1024' \
				'udp_src_max 65000' 'flag UDPSRC_RND' 'flag IPSRC_RND'; do
				echo \"\$c\" > /proc/net/pktgen/va
			done
		fi
		echo start > /proc/net/pktgen/pgctrl"
	res=$(ip netns exec "$A" cat /proc/net/pktgen/va | sed -n 's/.* \([0-9]*\)pps.*/\1/p')
	case $mode in
	rconntrack) rmmod rconntrack ;;
	nf_conntrack) ip netns exec "$B" nft delete table inet rctbench ;;
	esac
	echo "${res:-0}"
}

modprobe pktgen || rct_skip "pktgen"
echo "== per-packet cost: $COUNT packets, pktgen pps (higher is better) =="
for rnd in 0 1; do
	label=$([ $rnd = 1 ] && echo "new flows" || echo "one flow ")
	none=$(run none $rnd)
	rct=$(run rconntrack $rnd)
	nf=$(run nf_conntrack $rnd)
	printf 'bench %s  none=%s  rconntrack=%s  nf_conntrack=%s  rconntrack/none=%s  rconntrack/nf_conntrack=%s\n' \
		"$label" "$none" "$rct" "$nf" \
		"$(awk -v a="$rct" -v b="$none" 'BEGIN { printf "%.3f", b ? a / b : 0 }')" \
		"$(awk -v a="$rct" -v b="$nf" 'BEGIN { printf "%.3f", b ? a / b : 0 }')"
done

echo "== memory: flood of new flows until $MAX entries =="
fill() { # MODE
	local mode=$1 lf0 lf1 n t0
	setup
	lf0=$(lowfree)
	case $mode in
	rconntrack)
		rct_load
		echo 90 > $D/max_lowmem_percent
		echo "$MAX" > $D/max
		# A table of MAX buckets, as nf_conntrack's below: with the
		# default 7952 buckets of the 1 GiB x86_64 guest the fill
		# flattened near 254000 entries (7952 x the chain limit 32).
		echo "$MAX" > $D/buckets
		echo 600 > $D/udp_timeout
		n() { echo $(($(rct_count "$A") + $(rct_count "$B"))); }
		;;
	nf_conntrack)
		nf_on
		echo "$MAX" > /proc/sys/net/netfilter/nf_conntrack_max
		echo "$MAX" > /proc/sys/net/netfilter/nf_conntrack_buckets
		echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout
		n() { ip netns exec "$B" cat /proc/sys/net/netfilter/nf_conntrack_count; }
		;;
	esac
	rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 1000000 10.0.2.1-10.0.255.254
	t0=$(rct_now_ms)
	busywait 600000 eval '[ "$(n)" -ge "$MAX" ]'
	rct_pktgen_stop
	lf1=$(lowfree)
	# The entry cache: object size, and the pages its slabs hold.
	local objsize cache_kib
	objsize=$(awk -v s="$mode" '$1 == s { print $4 }' /proc/slabinfo)
	cache_kib=$(awk -v s="$mode" '$1 == s { print $15 * $6 * 4 }' /proc/slabinfo)
	printf 'memory %-12s entries=%s object_bytes=%s cache_kib=%s lowfree_used_kib=%s fill_ms=%s\n' \
		"$mode" "$(n)" "$objsize" "$cache_kib" "$((lf0 - lf1))" "$(( $(rct_now_ms) - t0 ))"
	case $mode in
	rconntrack) rmmod rconntrack ;;
	nf_conntrack) ip netns exec "$B" nft delete table inet rctbench ;;
	esac
	cleanup_all_ns
	sleep 2
}
fill rconntrack
fill nf_conntrack

echo "== neighbour patches =="
"$(dirname "$0")/bench_neigh.sh"
