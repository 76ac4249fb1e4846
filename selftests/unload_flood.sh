#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Unload while a flood of new flows runs, 20 times: hooks go, in-flight
# packets and RCU callbacks finish, every entry is freed, the cache is
# destroyed; the VM run fails on any warning, lockdep, KASAN or kmemleak
# report.
source "$(dirname "$0")/lib.sh"
rct_require_root
cleanup() {
	rct_pktgen_stop
	cleanup_all_ns
}
trap cleanup EXIT
rct_setup_pair || { rct_fail "setup"; rct_exit; }
ip -n "$B" route add 10.0.1.0/24 dev vb
rct_unload
if ! rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 20000; then
	rct_skip "pktgen unavailable"
fi
ok=1
for i in $(seq 1 20); do
	rct_load || { rct_fail "insmod #$i under flood"; ok=0; break; }
	busywait 5000 eval '[ "$(rct_count "$B")" -gt 0 ]' || { rct_fail "no entries under flood (#$i)"; ok=0; }
	rmmod rconntrack || { rct_fail "rmmod #$i under flood"; ok=0; break; }
	if grep -qE '^rconntrack(_nat6)? ' /proc/slabinfo; then
		rct_fail "cache left after unload #$i"
		ok=0
	fi
done
sent=$(rct_pktgen_sent "$A" va)
rct_pktgen_stop
rct_log "pktgen sent ${sent:-?} packets during the cycles"
rct_check "flood actually ran (${sent:-0} packets)" [ "${sent:-0}" -gt 1000 ]
[ $ok = 1 ] && rct_pass "20 load/unload cycles under flood, clean"
rct_exit
