#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The verdict on a guest's console log: qemu/vm.sh runs it after every
# boot, qemu/harness-test.sh feeds it synthetic logs.
#
#   verdict.sh [-j JOB] [-r QEMU_RC] LOG ARCH [TEST...]
#
# JOB: check (the default), probe, or another job of vm.sh. QEMU_RC: the
# exit code of `timeout qemu` (124: timed out). TEST...: the tests asked for
# (check). RCT_ALLOW_SKIP=1: a skipped test counts as skipped; without it a
# skip is a failure, since our guests have every tool the tests need.
# Prints "P F S" on stdout and every reason for a failure on stderr; exits
# 0 only if F is 0. Sourcing it only defines RCT_BAD_RE.
#
# What the guest prints (qemu/init, qemu/guest-job.sh) and what counts:
# - the kernel log goes to the console live, and again at the end between
#   RCT-DMESG-BEGIN/END; any line of the log matching RCT_BAD_RE is a
#   kernel report and fails the run;
# - check: run_kselftest.sh's KTAP lines, replayed with the console quiet
#   between RCT-KTAP-BEGIN/END, so that no printk lands inside them (the
#   live copy is not counted: a kernel message can break its lines). They
#   must hold one plan 1..N with N the number of tests asked for, and one
#   result per test asked for, numbered 1..N. "ok" is a pass, "ok # SKIP"
#   a skip, anything else ("not ok", "ok # XFAIL", a test asked for
#   without a result line: OOM-killed runner, broken line) a failure;
# - check: RCT-KSFT-EXIT (the runner's exit code) and the kmemleak result
#   (RCT-KMEMLEAK clean|absent, else reports or FAIL);
# - RCT-JOB-EXIT (the job's exit code) and RCT-DONE: a guest that did not
#   get there did not finish its job.
# A non-zero exit code or a missing marker is a failure even when nothing
# else explains it. Every harness problem counts one failure; a run without
# any counts one pass ("harness checks", as a test of its own).

# Kernel reports, case as the kernel prints them (kernel/, mm/, lib/).
_rct_bad=(
	# BUG()s, WARN()s, oopses, panics, and bare stack dumps.
	'BUG:' 'kernel BUG at' 'WARNING:' 'cut here \]' 'Oops' 'general protection fault'
	'Unable to handle kernel' 'Kernel panic' 'Call Trace:' 'stack-protector'
	'corrupted stack end' 'stack guard page'
	# Sanitizers and memory debugging: KASAN, KFENCE, UBSAN, SLUB (slub_debug
	# reports "BUG <cache> (Not tainted): <what>" under a line of '='),
	# page allocator, list debugging, refcount_t.
	'KASAN:' 'KFENCE:' 'UBSAN:'
	'BUG [^ ]+ \((Not tainted|Tainted: [^)]*)\)' '(^|\] )={20,}$' 'FIX [^ ]+: '
	'Slab cache still has objects' 'SLUB: Unable to allocate' 'Bad page (state|map)'
	'page allocation failure' 'list_[a-z_]+ corruption' 'refcount_t: '
	# OOM killer.
	'Out of memory' 'oom-kill' 'invoked oom-killer'
	# kmemleak: leaks, and kmemleak disabling itself (then it sees nothing).
	'kmemleak: [0-9]+ new suspected' 'unreferenced object'
	'kmemleak: .*(disabled|Cannot|Memory pool empty|Failed|unknown object|by alias|larger than object)'
	# Lockdep and locking.
	'possible recursive locking' 'circular locking' 'inconsistent lock state'
	'lock inversion' 'suspicious RCU usage' 'bad unlock balance' 'held lock freed'
	'DEBUG_LOCKS_WARN_ON' 'INFO: trying to register non-static key'
	'turning off the locking correctness validator'
	# Atomic context, preempt count.
	'BUG: scheduling while atomic' 'BUG: sleeping function called from invalid context'
	'preempt count leak' 'preempt leak' 'exited with preempt_count'
	'leaked atomic' 'entered softirq .* exited with'
	# RCU stalls (normal, expedited, RCU tasks) and a starved GP kthread.
	'INFO: [a-z_]+ (self-)?detected (expedited )?stalls?' 'kthread starved for'
	# Lockups and hung tasks.
	'soft lockup' 'hard LOCKUP' 'workqueue lockup' 'INFO: task .* blocked'
	'blocked for more than'
	# The guest's own failure markers (guest-job.sh).
	'^RCT-KMEMLEAK (reports|FAIL)' '^RCT-FAIL'
)
RCT_BAD_RE=$(IFS='|'; echo "${_rct_bad[*]}")

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

set -euo pipefail
job=check qrc=0
while getopts j:r: o; do
	case $o in
	j) job=$OPTARG ;;
	r) qrc=$OPTARG ;;
	*) echo "usage: verdict.sh [-j JOB] [-r QEMU_RC] LOG ARCH [TEST...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
log=${1:?usage: verdict.sh [-j JOB] [-r QEMU_RC] LOG ARCH [TEST...]}
arch=${2:?usage: verdict.sh [-j JOB] [-r QEMU_RC] LOG ARCH [TEST...]}
shift 2
asked="$*"

problems=0
problem() { printf '[rconntrack] %s: %s\n' "$arch" "$*" >&2; problems=$((problems + 1)); }

# The serial console ends lines with CR LF.
txt=$(mktemp)
trap 'rm -f "$txt"' EXIT
[ -r "$log" ] && tr -d '\r\000' < "$log" > "$txt"
[ -s "$txt" ] || problem "no console log ($log)"
# marker NAME: the number on the last "NAME <number>" line, if any.
marker() { sed -nE "s/^$1 (-?[0-9]+)\$/\1/p" "$txt" | tail -n 1; }

[ "$qrc" = 124 ] && problem "timed out"
done_=$(grep -acx 'RCT-DONE' "$txt" || true)
if [ "$done_" = 0 ]; then
	problem "guest did not finish (no RCT-DONE)"
else
	jrc=$(marker 'RCT-JOB-EXIT')
	[ -n "$jrc" ] || problem "no RCT-JOB-EXIT: the job did not end normally"
fi
# A guest booted with kmemleak=off (qemu/vm.sh, x86_64) prints that
# kmemleak is disabled, as kmemleak disabling itself does: only there, and
# only that line, is expected.
kml_off='^(\[ *[0-9.]+\] )?kmemleak: Kernel memory leak detector disabled$'
grep -aqE '^(\[ *[0-9.]+\] )?Kernel command line: (.* )?kmemleak=off( |$)' "$txt" || kml_off='^$'
if grep -aE "$RCT_BAD_RE" "$txt" | grep -avE "$kml_off" > "$txt.bad"; then
	problem "kernel reported problems:"
	# Each report is in the log twice (live and dmesg): show it once.
	sed 's/^\[ *[0-9.]*\] //' "$txt.bad" | awk '!seen[$0]++' | head -n 40 |
		sed 's/^/    /' >&2
fi
rm -f "$txt.bad"

pass=0 fail=0 skip=0
case $job in
probe)
	grep -aqx 'RCT-PROBE-OK' "$txt" || problem "no RCT-PROBE-OK"
	;;
check)
	[ -n "$asked" ] || problem "no test asked for"
	# The KTAP block. Output: "msg TEXT" lines, then "counts P F S" (F with
	# the missing tests).
	res=$(awk -v asked="$asked" -v allow_skip="${RCT_ALLOW_SKIP:-0}" -v finished="$done_" '
	function msg(s) { print "msg " s }
	BEGIN {
		n = split(asked, a, /[ \t]+/)
		for (i = 1; i <= n; i++) want[a[i]]++
	}
	/^RCT-KTAP-BEGIN$/ { blocks++; inb = 1; next }
	/^RCT-KTAP-END$/ { if (inb) ends++; inb = 0; next }
	!inb { next }
	/^1\.\.[0-9]+/ { plans++; plan = $0; sub(/^1\.\./, "", plan); sub(/[^0-9].*/, "", plan); next }
	/^Bail out!/ { msg("runner bailed out: " $0); bail++; next }
	/^(not )?ok / {
		s = $0; res = "ok"
		if (sub(/^not ok /, "", s)) res = "not ok"; else sub(/^ok /, "", s)
		num = s; sub(/ .*/, "", num)
		rest = s; sub(/^[^ ]* /, "", rest)
		dir = ""
		if ((p = index(rest, " # ")) > 0) { dir = substr(rest, p + 3); rest = substr(rest, 1, p - 1) }
		if (num !~ /^[0-9]+$/ || rest !~ /^selftests: rconntrack: [^ ]+$/) {
			msg("malformed result line: " $0); bad++; next
		}
		name = rest; sub(/^selftests: rconntrack: /, "", name)
		results++
		if (num + 0 != results) order++
		if (++got[name] > want[name]) { msg(name ": result for a test not asked for (or twice): " $0); fail++; next }
		if (res == "not ok") { msg(name ": " $0); fail++ }
		else if (dir == "") pass++
		else if (dir ~ /^SKIP/) {
			if (allow_skip == 1) skip++
			else { msg(name ": skipped, counted as failed (RCT_ALLOW_SKIP=1 allows skips): " $0); fail++ }
		} else { msg(name ": " dir " counted as failed: " $0); fail++ }
	}
	END {
		# A guest that did not finish has a problem already.
		if (blocks != 1 || ends != 1) { if (finished) msg("problem: " blocks + 0 " KTAP blocks, " ends + 0 " complete (want 1): the job did not get to replay the results") }
		else if (plans != 1) msg("problem: " plans + 0 " KTAP plans (want 1)")
		else if (plan + 0 != n) msg("problem: KTAP plan 1.." plan " but " n " tests asked for")
		if (order && !bad) msg("problem: results not numbered 1..N in order")
		if (bail) msg("problem: runner bailed out")
		missing = 0
		for (t in want) if (got[t] + 0 < want[t]) {
			msg(t ": no result (never ran, runner killed, or its line broken)")
			missing += want[t] - got[t]
		}
		# With one result per test asked for, pass + skip + fail = plan = n.
		if (!missing && bad == 0 && plans == 1 && results != plan + 0)
			msg("problem: " results " results for plan 1.." plan)
		print "counts " pass + 0, fail + missing, skip + 0
	}' "$txt")
	while IFS= read -r l; do
		case $l in
		"msg problem: "*) problem "${l#msg problem: }" ;;
		"msg "*) printf '[rconntrack] %s: %s\n' "$arch" "${l#msg }" >&2 ;;
		"counts "*) read -r _ pass fail skip <<< "$l" ;;
		esac
	done <<< "$res"
	if [ "$done_" != 0 ]; then
		krc=$(marker 'RCT-KSFT-EXIT')
		if [ -z "$krc" ]; then
			problem "no RCT-KSFT-EXIT: the runner's exit code is unknown"
		elif [ "$krc" != 0 ] && [ "$fail" = 0 ]; then
			problem "run_kselftest.sh exited $krc, and no test failed"
		fi
		grep -aqE '^RCT-KMEMLEAK ' "$txt" || problem "the kmemleak check did not report"
	fi
	;;
esac
# The job's exit code: its failures have their own markers; a non-zero exit
# nothing else explains is a failure of its own.
if [ "$done_" != 0 ] && [ -n "${jrc:-}" ] && [ "$jrc" != 0 ] &&
	[ $problems = 0 ] && [ "$fail" = 0 ]; then
	problem "the job exited $jrc"
fi
fail=$((fail + problems))
[ $problems = 0 ] && pass=$((pass + 1))
echo "$pass $fail $skip"
[ $fail = 0 ]
