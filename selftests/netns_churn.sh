#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Namespaces destroyed under traffic: each round floods new flows into
# namespace B from both vCPUs (two pktgen threads), then deletes B while
# the flood still arrives. Every entry of every dead namespace must leave
# the table (flush vs resize and late inserts), and nothing may be used
# after it is freed (KASAN on x86_64). (The kernel unregisters B's devices,
# with a synchronize_net(), before pernet subsystems' exit runs, so this
# rarely finds a hook in flight at exit; unload_race.sh forces that.)
source "$(dirname "$0")/lib.sh"
rct_require_root
# Four rounds (six until the seventh session: 10 s each in the KASAN
# guest); make torture runs this test again, and RCT_CHURN_ROUNDS more.
rounds=${RCT_CHURN_ROUNDS:-4}
cleanup() {
	rct_pktgen_stop 2>/dev/null
	cleanup_all_ns
}
trap cleanup EXIT
rct_load || { rct_fail "insmod"; exit $ksft_fail; }
size=$(rct_sysctl entry_size)
ok=1
for i in $(seq 1 "$rounds"); do
	rct_setup_pair || { rct_fail "setup #$i"; ok=0; break; }
	ip -n "$B" route add 10.0.1.0/24 dev vb
	ip -n "$B" route add 10.0.2.0/24 dev vb
	if ! rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 5000 \
		10.0.1.1-10.0.1.254 10.0.2.1-10.0.2.254; then
		rct_skip "pktgen unavailable"
	fi
	busywait 10000 eval '[ "$(rct_count "$B" 2>/dev/null || echo 0)" -gt 50 ]' ||
		{ rct_fail "no entries in B under flood (#$i)"; ok=0; }
	# Delete B with the flood still arriving at vb.
	ip netns del "$B"
	sleep 0.3
	rct_pktgen_stop
	ip netns del "$A"
	RCT_NS_LIST=""
done
# Namespace cleanup is asynchronous (netns workqueue): wait for the table
# to hold only the initial namespace's entries (memory_bytes counts all).
only_init() { [ "$(rct_sysctl memory_bytes)" -eq $(($(rct_sysctl count) * size)) ]; }
busywait 60000 only_init ||
	{ rct_fail "entries of dead namespaces left: memory_bytes $(rct_sysctl memory_bytes), init count $(rct_sysctl count) x $size"; ok=0; }
rmmod rconntrack || { rct_fail "rmmod"; ok=0; }
if grep -qE '^rconntrack(_nat6)? ' /proc/slabinfo; then
	rct_fail "entry cache left after unload"
	ok=0
fi
[ $ok = 1 ] && rct_pass "$rounds namespaces destroyed under a two-CPU flood, table emptied, module unloaded"
rct_exit
