#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Scaling with CPUs (not a test; part of `make bench`): does the established
# path of each tracker scale from one CPU to two? The guest has 2 vCPUs
# under multi-threaded TCG (MTTCG), without -icount: rates are wall clock,
# so noisy, and only meaningful on an otherwise idle host with at least two
# cores (qemu/vm.sh's bench-smp job; make bench runs it alone).
#
# Workload: bench.sh's established UDP flows, FLOWS of them (default 65533)
# prefilled, then sent by one pktgen thread (kpktgend_0, CPU 0) or by two
# (kpktgend_0 and _1, one per CPU, each cycling through its own half of the
# flows). A veth transmit is received on the sending CPU, so each thread
# loads its own CPU with the whole path (pktgen, veth, the receive hooks).
# Each thread sends COUNT packets; the rate is all packets over the longer
# thread's time. One and two threads alternate, REPEATS times, per mode.
# Prints "RESULT smp threads=T mode=M rep=R pps=P"; qemu/bench-report.sh
# turns them into the 2-CPU / 1-CPU ratio per mode, with the spread.
COUNT=${COUNT:-400000}
REPEATS=${REPEATS:-5}
SMP_FLOWS=${SMP_FLOWS:-65533}
# bench.sh's set-up (setup, mode_on, mode_off, pg, count, MODES).
RCT_BENCH_SOURCE_ONLY=1 source "$(dirname "$0")/bench.sh"
modprobe pktgen || { echo "bench_smp: no pktgen" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench_smp: needs 2 CPUs, has $(nproc)" >&2; exit 1; }

# pg_threads T N FLOWS: T pktgen threads in A, thread t sending N packets
# of its share of FLOWS flows (source ports [1 + t*FLOWS/T, 1 +
# (t+1)*FLOWS/T), one source address), set up, not started.
pg_threads() {
	local threads=$1 n=$2 flows=$3 t lo hi dev
	# Both threads emptied first: "start" runs every thread that has a
	# device, so a one-thread run after a two-thread one would otherwise
	# send with both (my first version did: ratios above 2).
	for t in 0 1; do
		rct_pktgen_clear "$A" "$t" || { echo "bench_smp: pktgen thread $t busy" >&2; exit 1; }
	done
	for t in $(seq 0 $((threads - 1))); do
		lo=$((1 + t * flows / threads))
		hi=$((1 + (t + 1) * flows / threads))
		dev=va
		[ "$t" -gt 0 ] && dev=va@$t
		ip netns exec "$A" sh -c "
			echo 'add_device $dev' > /proc/net/pktgen/kpktgend_$t
			for c in 'count $n' 'clone_skb 0' 'pkt_size 64' 'dst 255.255.255.255' \
				'dst_mac ff:ff:ff:ff:ff:ff' 'udp_dst_min 9' 'udp_dst_max 9' \
				'src_min 10.0.2.1' 'src_max 10.0.2.1' 'udp_src_min $lo' 'udp_src_max $hi'; do
				echo \"\$c\" > '/proc/net/pktgen/$dev' || exit 1
			done" || { echo "bench_smp: pktgen set-up failed" >&2; exit 1; }
	done
}

# pg_threads_rate T: all packets the T threads sent over the longest
# thread's time (pktgen's "Result: OK: <usec>(...) usec, <pkts> (...)").
pg_threads_rate() {
	local threads=$1 t dev line us pk sum=0 max=0
	for t in $(seq 0 $((threads - 1))); do
		dev=va
		[ "$t" -gt 0 ] && dev=va@$t
		line=$(ip netns exec "$A" grep '^Result: OK:' "/proc/net/pktgen/$dev")
		us=$(echo "$line" | sed -n 's/^Result: OK: \([0-9]*\)(.*/\1/p')
		pk=$(echo "$line" | sed -n 's/.* usec, \([0-9]*\) (.*/\1/p')
		[ "${us:-0}" -gt 0 ] && [ "${pk:-0}" -gt 0 ] ||
			{ echo "bench_smp: no result from pktgen thread $t: $line" >&2; exit 1; }
		sum=$((sum + pk))
		[ "$us" -gt "$max" ] && max=$us
	done
	echo $((sum * 1000000 / max))
}

echo "== scaling: $SMP_FLOWS established flows, 1 and 2 pktgen threads, $REPEATS x $COUNT packets a thread, MTTCG wall clock =="
for mode in $MODES; do
	setup
	mode_on "$mode" "$SMP_FLOWS"
	if [ "$mode" != none ]; then
		pg "$SMP_FLOWS" "$SMP_FLOWS" > /dev/null || exit 1
		echo "prefill flows=$SMP_FLOWS mode=$mode entries=$(count "$mode")"
	fi
	for rep in $(seq "$REPEATS"); do
		for threads in 1 2; do
			pg_threads "$threads" "$COUNT" "$SMP_FLOWS"
			ip netns exec "$A" sh -c 'echo start > /proc/net/pktgen/pgctrl'
			pps=$(pg_threads_rate "$threads") || exit 1
			# A one-thread run used one thread: kpktgend_1 has no device.
			[ "$threads" = 2 ] || rct_pktgen_idle "$A" 1 ||
				{ echo "bench_smp: kpktgend_1 has a device in a one-thread run" >&2; exit 1; }
			echo "RESULT smp threads=$threads mode=$mode rep=$rep pps=$pps entries=$(count "$mode")"
		done
	done
	rct_pktgen_clear "$A" 1 || true
	mode_off "$mode"
done
cleanup_all_ns
