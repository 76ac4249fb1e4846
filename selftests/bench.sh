#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Benchmarks (not tests; `make bench`). One guest boot under -icount, so
# guest time counts instructions and repeats agree to ~0.2%.
#
# 1. Per-packet cost. pktgen sends UDP packets from A to B over veth with
#    no tracking, with rconntrack, and with nf_conntrack (enabled in B by an
#    nft ct rule). They go to 255.255.255.255 (port 9, no socket): a
#    unicast datagram would draw an ICMP port unreachable, whose rate limit
#    makes the work per packet depend on the time per packet, so on the
#    mode. Workloads:
#    - established: FLOWS concurrent flows (default 1, 1000, 65533 and
#      1048528 = 16 addresses x 65533 ports, periods prime to each other),
#      the table prefilled by one pass over them (not measured), then
#      REPEATS passes of COUNT packets that cycle through them: every
#      packet a lookup hit;
#    - new flows: random source address and port (mostly new flows);
#    - TCP connections per second over veth (rct_pkt -c).
#    Each measurement prints "RESULT <workload> flows=N mode=M rep=R
#    pps=P" (pktgen's own rate; one CPU: sender and receiver softirq share
#    it); qemu/bench-report.sh turns them into instructions per packet,
#    medians and spreads, bench/results.md and the charts.
# 2. Memory: the same flood of new flows until each tracker holds MAX
#    entries (nf_conntrack_max raised to the same value): entries reached,
#    slab bytes per entry, lowmem used.
# 3. The neighbour patches: bench_neigh.sh.
source "$(dirname "$0")/lib.sh"
COUNT=${COUNT:-200000}
REPEATS=${REPEATS:-5}
FLOWS=${FLOWS:-"1 1000 65533 1048528"}
MODES=${MODES:-"none rconntrack nf_conntrack"}
MAX=${MAX:-1000000}
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

nf_on() { # [NS]: enable nf_conntrack in NS, default B (a ct rule needs it)
	ip netns exec "${1:-$B}" nft -f - <<-'NFT'
	table inet rctbench {
		chain pre {
			type filter hook prerouting priority 0; policy accept;
			ct state new counter
		}
	}
	NFT
}

# mode_on MODE N: enable MODE's tracker in B with room for N entries and
# timeouts longer than the run.
mode_on() {
	local n=$(($2 + 4096))
	case $1 in
	rconntrack)
		rct_load
		echo 90 > $D/max_lowmem_percent
		echo "$n" > $D/max
		echo "$n" > $D/buckets
		echo 600 > $D/udp_timeout
		echo 600 > $D/udp_timeout_stream
		;;
	nf_conntrack)
		nf_on || { echo "nft failed" >&2; return 1; }
		echo "$n" > /proc/sys/net/netfilter/nf_conntrack_max
		echo "$n" > /proc/sys/net/netfilter/nf_conntrack_buckets
		# Per namespace: B's own.
		ip netns exec "$B" sh -c 'echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout
			echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream'
		;;
	esac
}

mode_off() {
	case $1 in
	rconntrack) rmmod rconntrack ;;
	nf_conntrack)
		ip netns exec "$B" nft delete table inet rctbench
		ip netns exec "$A" nft delete table inet rctbench 2>/dev/null || true
		;;
	esac
}

# count: entries of B's tracker in the current mode.
count() {
	case $1 in
	rconntrack) rct_count "$B" ;;
	nf_conntrack) ip netns exec "$B" cat /proc/sys/net/netfilter/nf_conntrack_count ;;
	*) echo 0 ;;
	esac
}

# pg_setup N FLOWS: pktgen in A set up to send N packets of FLOWS flows
# (FLOWS 0: random sources), not started.
pg_setup() {
	local n=$1 flows=$2 cfg
	# One line: a newline would end the guest shell's "for ... in" list.
	cfg="'count $n' 'clone_skb 0' 'pkt_size 64' 'dst 255.255.255.255'"
	cfg+=" 'dst_mac ff:ff:ff:ff:ff:ff' 'udp_dst_min 9' 'udp_dst_max 9'"
	# Sequential sources: the port runs through [min, max), the address
	# through [min, max]; coprime periods give their product as flows.
	case $flows in
	0) cfg+=" 'src_min 10.0.2.1' 'src_max 10.0.255.254' 'udp_src_min 1024'"
	   cfg+=" 'udp_src_max 65000' 'flag UDPSRC_RND' 'flag IPSRC_RND'" ;;
	1) cfg+=" 'src_min 10.0.2.1' 'src_max 10.0.2.1' 'udp_src_min 1024' 'udp_src_max 1024'" ;;
	1048528) cfg+=" 'src_min 10.0.2.0' 'src_max 10.0.2.15' 'udp_src_min 1' 'udp_src_max 65534'" ;;
	*) cfg+=" 'src_min 10.0.2.1' 'src_max 10.0.2.1' 'udp_src_min 1' 'udp_src_max $((flows + 1))'" ;;
	esac
	rct_pktgen_clear "$A" 0 || { echo "bench: pktgen thread busy" >&2; exit 1; }
	ip netns exec "$A" sh -c "
		echo 'add_device va' > /proc/net/pktgen/kpktgend_0
		for c in $cfg; do
			echo \"\$c\" > /proc/net/pktgen/va || exit 1
		done" || { echo "bench: pktgen set-up failed" >&2; exit 1; }
}

# pg_rate: pktgen's rate (pps) of its last run; no figure is a broken run.
pg_rate() {
	local pps
	pps=$(ip netns exec "$A" cat /proc/net/pktgen/va | sed -n 's/.* \([0-9]*\)pps.*/\1/p')
	[ "${pps:-0}" -gt 0 ] || { echo "bench: pktgen reported no rate" >&2; exit 1; }
	echo "$pps"
}

# pg N FLOWS: pktgen sends N packets of FLOWS flows; prints its rate.
pg() {
	pg_setup "$1" "$2"
	ip netns exec "$A" sh -c 'echo start > /proc/net/pktgen/pgctrl'
	pg_rate
}

# profile.sh reuses the set-up above.
[ "${RCT_BENCH_SOURCE_ONLY:-0}" = 1 ] && return 0

modprobe pktgen || rct_skip "pktgen"
echo "== per-packet cost: established flows and new flows, $REPEATS x $COUNT packets =="
for flows in $FLOWS; do
	for mode in $MODES; do
		setup
		mode_on "$mode" "$flows"
		if [ "$mode" != none ]; then
			t0=$(rct_now_ms)
			pg "$flows" "$flows" > /dev/null || exit 1
			echo "prefill flows=$flows mode=$mode entries=$(count "$mode") ms=$(($(rct_now_ms) - t0))"
		fi
		for rep in $(seq "$REPEATS"); do
			pps=$(pg "$COUNT" "$flows") || exit 1
			echo "RESULT established flows=$flows mode=$mode rep=$rep pps=${pps:-0} entries=$(count "$mode")"
		done
		mode_off "$mode"
	done
done
# New flows: each repeat on an empty table with room for all of them (no
# early drop), modes interleaved.
for rep in $(seq "$REPEATS"); do
	for mode in $MODES; do
		setup
		mode_on "$mode" "$COUNT"
		pps=$(pg "$COUNT" 0) || exit 1
		echo "RESULT new flows=0 mode=$mode rep=$rep pps=${pps:-0} entries=$(count "$mode")"
		mode_off "$mode"
	done
done
cleanup_all_ns

# TCP connections per second (rct_pkt -c): the client in A makes CONNS
# connections to the server in B one after the other (connect, 1000
# bytes, close), both namespaces tracking (nf_conntrack by a ct rule in
# each). "pps" here is connections per second.
CONNS=${CONNS:-2000}
echo "== TCP connections: $CONNS, $REPEATS repeats =="
for rep in $(seq "$REPEATS"); do
	for mode in $MODES; do
		setup
		mode_on "$mode" "$((2 * CONNS))"
		[ "$mode" = nf_conntrack ] && nf_on "$A"
		ip netns exec "$B" ./rct_pkt -c serve 7000 > /dev/null 2>&1 &
		spid=$!
		busywait 10000 eval 'ip netns exec "$B" ss -Hltn "sport = :7000" | grep -q .' || {
			echo "bench: the TCP server did not listen ($mode)" >&2
			kill "$spid"
			exit 1
		}
		out=$(ip netns exec "$A" ./rct_pkt -c 10.0.0.2 7000 "$CONNS" 1000) || {
			echo "bench: TCP connections failed ($mode)" >&2
			kill "$spid"
			exit 1
		}
		kill "$spid"
		wait "$spid" 2>/dev/null
		cps=${out##*cps=}
		echo "RESULT tcp_conn flows=0 mode=$mode rep=$rep pps=$cps entries=$(count "$mode") $out"
		mode_off "$mode"
	done
done
cleanup_all_ns

echo "== memory: flood of new flows until $MAX entries =="
# settle: wait until the entries of namespaces deleted before are freed
# (their cleanup runs in a work item after "ip netns del" returns), then
# drop clean caches, so that LowFree moves only with the fill that follows
# (the first runs after the established-flow phase measured 1.2 MiB for
# 35 MiB of entries: 1M freed entries came back meanwhile).
# slabinfo's active objects include the free ones of slabs a CPU still
# holds (SLUB's per-CPU partial lists): shrinking the cache first returns
# those, else freed entries can look in use for ever (the seventh
# session's i386 run stopped here).
nf_objs() {
	[ -w /sys/kernel/slab/nf_conntrack/shrink ] && echo 1 > /sys/kernel/slab/nf_conntrack/shrink
	awk '$1 == "nf_conntrack" { print $2; f = 1 } END { if (!f) print 0 }' /proc/slabinfo
}
settle() {
	busywait 120000 eval '[ "$(nf_objs)" -lt 1000 ]' || {
		echo "bench: entries of deleted namespaces still not freed: $(nf_objs) nf_conntrack objects after 120 s" >&2
		exit 1
	}
	sync
	echo 3 > /proc/sys/vm/drop_caches
	sleep 1
}

fill() { # MODE
	local mode=$1 lf0 lf1 n t0
	setup
	settle
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
		# Per namespace: B's own.
		ip netns exec "$B" sh -c 'echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout'
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
