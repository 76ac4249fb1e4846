#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Teardown while hooks are running: the module is loaded with
# debug_hook_delay_us=200000 (every hook busy-waits 200 ms after taking its
# namespace's state) and a slow flood reaches namespace B from both vCPUs,
# so an rmmod almost always finds a hook in flight on the other CPU. The
# hooks must be unregistered and waited for (pre_exit + grace period)
# before the state goes: on the x86_64 guest KASAN reports any use after
# free. The delay must outlast what teardown does between unregistering
# the hooks and freeing their state (the flush walks the whole table, tens
# of milliseconds under TCG and KASAN).
source "$(dirname "$0")/lib.sh"
rct_require_root
# Three cycles: at two packets a second per CPU a hook is in flight about
# 96% of the time, so a cycle without one is rare and three without one
# rarer still (each cycle costs 16 s in the KASAN guest; five were run
# until the seventh session).
cycles=${RCT_UNLOAD_RACE_CYCLES:-3}
delay=${RCT_UNLOAD_RACE_DELAY_US:-200000}
cleanup() {
	rct_pktgen_stop 2>/dev/null
	cleanup_all_ns
	rct_unload
}
trap cleanup EXIT
rct_unload
rct_setup_pair || { rct_fail "setup"; rct_exit; }
ip -n "$B" route add 10.0.1.0/24 dev vb
ip -n "$B" route add 10.0.2.0/24 dev vb
rct_load debug_hook_delay_us=$delay || { rct_fail "insmod"; rct_exit; }
# Two packets a second per thread: each costs two 200 ms hooks in B.
rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 2 \
	10.0.1.1-10.0.1.254 10.0.2.1-10.0.2.254 || rct_skip "pktgen unavailable"
ok=1
for i in $(seq 1 "$cycles"); do
	busywait 20000 eval '[ "$(rct_count "$B")" -gt 0 ]' ||
		{ rct_fail "no entry under the slow flood (#$i)"; ok=0; }
	rmmod rconntrack || { rct_fail "rmmod #$i"; ok=0; break; }
	if grep -qE '^rconntrack(_nat6)? ' /proc/slabinfo; then
		rct_fail "entry cache left after unload #$i"
		ok=0
	fi
	rct_load debug_hook_delay_us=$delay || { rct_fail "insmod #$i"; ok=0; break; }
done
sent=$(rct_pktgen_sent "$A" va)
rct_pktgen_stop
rct_check "the flood ran (${sent:-0} packets)" [ "${sent:-0}" -gt 5 ]
[ $ok = 1 ] && rct_pass "$cycles unloads with $((delay / 1000)) ms hooks in flight"
rct_exit
