#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Self-test of the test harness, on the host, in seconds (check.sh runs it
# and counts it as one result). A harness that passes a broken run is worse
# than none, so each hole it must catch has a case here:
# - qemu/verdict.sh on synthetic console logs: a clean run passes; a
#   missing test, a broken result line, XFAIL, SKIP (unless allowed), a
#   plan mismatch, each kind of kernel report, a kmemleak report, a runner
#   or job exiting non-zero, a missing marker, a timeout all fail;
# - the guest's ktap_tee (qemu/guest-job.sh) on the kernel's own runner
#   (run_kselftest.sh from the kernel source, when it is there) with
#   dummy tests, so the format the verdict parses is the runner's;
# - cargo_test_counts (check.sh's host-test counting) on canned output;
# - debian_mirror on canned apt sources.
# Prints one "ok"/"not ok" line per case; exits 1 if any failed.
# Test names are passed one word each, from $TESTS; sed and awk programs
# are in single quotes.
# shellcheck disable=SC2086,SC2016
set -uo pipefail
. "$(dirname "$0")/lib.sh"
V=$RCT_ROOT/qemu/verdict.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ntest=0 nfail=0

# check NAME COND...: one result line.
check() {
	local name=$1
	shift
	ntest=$((ntest + 1))
	if "$@"; then
		echo "ok $ntest - $name"
	else
		echo "not ok $ntest - $name"
		nfail=$((nfail + 1))
	fi
}

# verdict_is WANT_RC WANT_COUNTS LOG [verdict.sh options and tests]: runs
# the verdict (ARCH "test"), compares its exit code and "P F S" (WANT_COUNTS
# "-": any); shows its output when they differ.
verdict_is() {
	local want_rc=$1 want=$2 log=$3 out rc
	shift 3
	local opts=() tests=()
	while [ $# -gt 0 ]; do
		case $1 in -j | -r) opts+=("$1" "$2"); shift 2 ;; *) tests+=("$1"); shift ;; esac
	done
	out=$("$V" "${opts[@]}" "$log" test "${tests[@]}" 2> "$tmp/stderr")
	rc=$?
	if [ "$rc" = "$want_rc" ] && { [ "$want" = - ] || [ "$out" = "$want" ]; }; then
		return 0
	fi
	echo "# verdict: rc $rc (want $want_rc), counts '$out' (want '$want'), on $log:"
	sed 's/^/#   /' "$tmp/stderr"
	return 1
}
pass_v() { verdict_is 0 "$@"; }
fail_v() { verdict_is 1 "$@"; }

# The guest's functions (ktap_tee), without running a job.
# shellcheck source=qemu/guest-job.sh
. "$RCT_ROOT/qemu/guest-job.sh" ""

TESTS="load.sh proto.sh lowmem.sh"

# transcript RESULT...: what run_kselftest.sh prints for tests t1.sh...,
# one per RESULT (pass, skip, fail, xfail, timeout), in its exact format
# (tools/testing/selftests/kselftest/runner.sh, ktap_helpers.sh).
transcript() {
	local i=0 r name
	echo "TAP version 13"
	echo "1..$#"
	for r in "$@"; do
		i=$((i + 1))
		name=$(echo "$TESTS" | cut -d' ' -f$i)
		echo "# timeout set to 600"
		echo "# selftests: rconntrack: $name"
		echo "# ok: something about $name"
		case $r in
		pass) echo "ok $i selftests: rconntrack: $name" ;;
		skip) echo "# SKIP: pktgen unavailable"; echo "ok $i selftests: rconntrack: $name # SKIP" ;;
		xfail) echo "ok $i selftests: rconntrack: $name # XFAIL" ;;
		fail) echo "# FAIL: it broke"; echo "not ok $i selftests: rconntrack: $name # exit=1" ;;
		timeout) echo "not ok $i selftests: rconntrack: $name # TIMEOUT 600 seconds" ;;
		esac
	done
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0"
}

# mklog LOG KSFT_RC < TRANSCRIPT: the console of a `check` run around a
# runner transcript, as qemu/init and qemu/guest-job.sh print it (CR LF
# line ends, as on the serial console).
mklog() {
	local log=$1 ksft=$2
	: > "$tmp/ktap"
	: > "$tmp/times"
	{
		cat <<-'EOF'
		[    0.000000] Linux version 7.3.4 (rct@build) #1 SMP PREEMPT_DYNAMIC
		[    0.000000] Kernel command line: console=ttyS0 panic=-1 oops=panic rct.job=check slub_debug=FZPU
		[    0.010000] SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=2, Nodes=1
		[    0.020000] rcu: Preemptible hierarchical RCU implementation.
		[    0.020000] rcu: 	RCU lockdep checking is enabled.
		[    0.030000] 	Tasks-RCU CPU stall warnings timeout set to 120000 (rcu_task_stall_timeout).
		[    0.040000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
		[    0.040000] ... MAX_LOCKDEP_SUBCLASSES:  8
		[    0.050000] kasan: KernelAddressSanitizer initialized (generic)
		[    0.100000] **********************************************************
		[    0.100000] **   NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE   **
		[    1.000000] kmemleak: Kernel memory leak detector initialized (mem pool available: 15755)
		[    1.500000] Run /init as init process
		RCT-BOOT 7.3.4 x86_64 nproc=2
		RCT-MEM MemTotal:        1003520 kB
		EOF
		ktap_tee "$tmp/ktap" "$tmp/times"
		cat <<-'EOF'
		[   20.000000] rconntrack: version 0.1.0 (6344 buckets, 6344 max) - 96 bytes per conntrack
		[   21.000000] rconntrack: table full, dropping packet
		[   21.500000] workqueue: rct_gc hogged CPU for >10000us 4 times, consider switching to WQ_UNBOUND
		[   22.000000]     # Subtest: rconntrack
		[   22.000000]     ok 1 rconntrack_table_insert
		[   22.000000] # Totals: pass:12 fail:0 skip:0 total:12
		EOF
		echo
		echo "RCT-KTAP-BEGIN"
		cat "$tmp/ktap"
		echo "RCT-KTAP-END"
		cat "$tmp/times"
		echo "RCT-KSFT-EXIT $ksft"
		echo "RCT-KMEMLEAK clean"
		echo "RCT-DMESG-BEGIN"
		echo "[    0.000000] Linux version 7.3.4 (rct@build) #1 SMP PREEMPT_DYNAMIC"
		echo "[   21.000000] rconntrack: table full, dropping packet"
		echo "RCT-DMESG-END"
		echo "RCT-JOB-EXIT $([ "$ksft" = 0 ] && echo 0 || echo 1)"
		echo "RCT-DONE"
	} | sed 's/$/\r/' > "$log"
}

# edit NAME SED-SCRIPT: a copy of the clean log, changed.
clean=$tmp/clean.log
transcript pass pass pass | mklog "$clean" 0
edit() { sed "$2" "$clean" > "$tmp/$1.log"; echo "$tmp/$1.log"; }

# --- The clean run, and what must not change that.
check "clean run passes: 3 tests and the harness checks" pass_v "4 0 0" "$clean" $TESTS
check "clean run: ktap_tee timed every test" \
	[ "$(grep -c '^RCT-TIME [a-z_]*\.sh [0-9]*\.[0-9][0-9]$' "$tmp/times")" = 3 ]
check "clean run: ktap_tee kept no test output in the KTAP copy" \
	eval '! grep -q "^# ok:" "$tmp/ktap"'
check "a kernel message breaking a live result line does not matter" pass_v "4 0 0" \
	"$(edit live-broken '0,/^ok 2 /s/^ok 2 \(.*\)\r$/ok 2 \1[   12.345678] rconntrack: table full, dropping packet\r/')" $TESTS
check "probe: clean" pass_v "1 0 0" "$(printf 'RCT-PROBE-OK\r\nRCT-JOB-EXIT 0\r\nRCT-DONE\r\n' > "$tmp/probe.log"; echo "$tmp/probe.log")" -j probe
check "a kernel without kmemleak passes" pass_v "4 0 0" \
	"$(edit kml-absent 's/^RCT-KMEMLEAK clean/RCT-KMEMLEAK absent (kernel without CONFIG_DEBUG_KMEMLEAK)/')" $TESTS
check "kmemleak=off on the command line: its 'disabled' line passes" pass_v "4 0 0" \
	"$(edit kml-off 's/^\(\[ *[0-9.]*\] Kernel command line: .*\)\r$/\1 kmemleak=off\r/
		s/^\(\[ *[0-9.]*\]\) kmemleak: Kernel memory leak detector initialized.*\r$/\1 kmemleak: Kernel memory leak detector disabled\r/
		s/^RCT-KMEMLEAK clean/RCT-KMEMLEAK absent (kmemleak=off on the command line: the i386 guest checks leaks)/')" $TESTS
check "kmemleak disabled without kmemleak=off fails" fail_v - \
	"$(edit kml-disabled 's/^\(\[ *[0-9.]*\]\) kmemleak: Kernel memory leak detector initialized.*\r$/\1 kmemleak: Kernel memory leak detector disabled\r/')" $TESTS
check "xkmemleak=off is not kmemleak=off" fail_v - \
	"$(edit kml-xoff 's/^\(\[ *[0-9.]*\] Kernel command line: .*\)\r$/\1 xkmemleak=off\r/
		s/^\(\[ *[0-9.]*\]\) kmemleak: Kernel memory leak detector initialized.*\r$/\1 kmemleak: Kernel memory leak detector disabled\r/')" $TESTS
check "kmemleak=off does not excuse another kmemleak error" fail_v - \
	"$(edit kml-off-err 's/^\(\[ *[0-9.]*\] Kernel command line: .*\)\r$/\1 kmemleak=off\r/
		s/^\(\[ *[0-9.]*\]\) kmemleak: Kernel memory leak detector initialized.*\r$/\1 kmemleak: Memory pool empty, consider increasing CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE\r/')" $TESTS

# --- Tests that did not run, or did not pass.
transcript pass pass | mklog "$tmp/oom.log" 137
sed -i '/^1\.\.2/s/2/3/; /^# Totals/d' "$tmp/oom.log"
check "runner OOM-killed after test 2 of 3: missing test fails" fail_v "3 1 0" "$tmp/oom.log" $TESTS
check "broken result line in the KTAP block fails" fail_v "3 1 0" \
	"$(edit ktap-broken '/^RCT-KTAP-BEGIN/,/^RCT-KTAP-END/s/^ok 2 \(.*\)\r$/ok 2 \1[  12.3] rcu: hmm\r/')" $TESTS
check "result line lost from the KTAP block fails" fail_v "3 1 0" \
	"$(edit ktap-lost '/^RCT-KTAP-BEGIN/,/^RCT-KTAP-END/{/^ok 3 /d}')" $TESTS
transcript pass xfail pass | mklog "$tmp/xfail.log" 0
check "XFAIL fails" fail_v "3 1 0" "$tmp/xfail.log" $TESTS
transcript pass skip pass | mklog "$tmp/skip.log" 0
check "SKIP fails without RCT_ALLOW_SKIP" fail_v "3 1 0" "$tmp/skip.log" $TESTS
RCT_ALLOW_SKIP=1 check "SKIP is a skip with RCT_ALLOW_SKIP=1" pass_v "3 0 1" "$tmp/skip.log" $TESTS
transcript pass fail timeout | mklog "$tmp/fail.log" 1
check "not ok and TIMEOUT fail, one each" fail_v "2 2 0" "$tmp/fail.log" $TESTS
check "plan 1..2 while 3 tests asked for fails" fail_v - \
	"$(edit plan-short 's/^1\.\.3\r$/1..2\r/')" $TESTS
check "plan 1..3 while 2 tests asked for fails" fail_v - "$clean" load.sh proto.sh
check "two plans fail" fail_v - "$(edit plan-two '/^RCT-KTAP-END/i 1..3\r')" $TESTS
check "no plan fails" fail_v - "$(edit plan-none '/^RCT-KTAP-BEGIN/,/^RCT-KTAP-END/{/^1\.\./d}')" $TESTS
check "a result twice fails" fail_v - "$(edit twice '/^RCT-KTAP-END/i ok 4 selftests: rconntrack: load.sh\r')" $TESTS
check "results out of order fail" fail_v - "$(edit order '/^RCT-KTAP-BEGIN/,/^RCT-KTAP-END/s/^ok 2 /ok 7 /')" $TESTS
check "Bail out! fails" fail_v - "$(edit bail '/^RCT-KTAP-END/i Bail out! runner crashed\r')" $TESTS
check "no KTAP block fails" fail_v - "$(edit no-block '/^RCT-KTAP-BEGIN/,/^RCT-KTAP-END/d')" $TESTS
check "unterminated KTAP block fails" fail_v - "$(edit no-end '/^RCT-KTAP-END/d')" $TESTS
check "no test asked for fails" fail_v - "$clean"
check "a test that does not exist fails" fail_v - "$clean" load.sh proto.sh nosuch.sh

# --- Exit codes and markers.
check "run_kselftest.sh exit non-zero (all ok) fails" fail_v "3 1 0" \
	"$(edit ksft-rc 's/^RCT-KSFT-EXIT 0/RCT-KSFT-EXIT 1/')" $TESTS
check "no RCT-KSFT-EXIT fails" fail_v - "$(edit ksft-none '/^RCT-KSFT-EXIT/d')" $TESTS
check "job exit non-zero fails" fail_v "3 1 0" "$(edit job-rc 's/^RCT-JOB-EXIT 0/RCT-JOB-EXIT 1/')" $TESTS
check "no RCT-JOB-EXIT fails" fail_v - "$(edit job-none '/^RCT-JOB-EXIT/d')" $TESTS
check "no RCT-DONE fails" fail_v - "$(edit no-done '/^RCT-DONE/d')" $TESTS
check "timeout (qemu rc 124) fails" fail_v - "$clean" -r 124 $TESTS
check "empty log fails" fail_v "0 5 0" "$(: > "$tmp/empty.log"; echo "$tmp/empty.log")" $TESTS
check "probe without RCT-PROBE-OK fails" fail_v - \
	"$(printf 'RCT-JOB-EXIT 0\r\nRCT-DONE\r\n' > "$tmp/probe2.log"; echo "$tmp/probe2.log")" -j probe
check "rmmod failure marker fails" fail_v - \
	"$(edit rmmod '/^RCT-KMEMLEAK clean/i RCT-FAIL rmmod rconntrack failed after the tests\r')" $TESTS

# --- kmemleak.
check "kmemleak report fails" fail_v - "$(edit kml-report 's/^RCT-KMEMLEAK clean\r$/RCT-KMEMLEAK reports:\r\nunreferenced object 0xc5a3b000 (size 72):\r\n  comm "insmod", pid 123, jiffies 4294937296\r/')" $TESTS
check "kmemleak unusable fails" fail_v - \
	"$(edit kml-fail "s/^RCT-KMEMLEAK clean/RCT-KMEMLEAK FAIL: 'echo scan' refused/")" $TESTS
check "kmemleak check missing fails" fail_v - "$(edit kml-none '/^RCT-KMEMLEAK/d')" $TESTS

# --- Kernel reports: each fails the run, live or only in the dmesg replay.
reports=(
	'BUG: KASAN: slab-use-after-free in rct_lookup+0x12/0x40'
	'BUG: kernel NULL pointer dereference, address: 0000000000000008'
	'BUG: KFENCE: out-of-bounds read in rct_walk+0x1/0x2'
	'kernel BUG at net/core/skbuff.c:123!'
	'WARNING: CPU: 0 PID: 1 at net/netfilter/core.c:10 nf_hook_slow+0x1/0x2'
	'------------[ cut here ]------------'
	'Oops: general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP KASAN'
	'Kernel panic - not syncing: Fatal exception in interrupt'
	'Call Trace:'
	'rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:'
	'rcu: INFO: rcu_sched self-detected stall on CPU'
	'rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 1-... } 21001 jiffies s: 105 root: 0x2/.'
	'INFO: rcu_tasks detected stalls on tasks:'
	'rcu: rcu_preempt kthread starved for 10502 jiffies! g1234 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x402 ->cpu=0'
	'Out of memory: Killed process 123 (bash) total-vm:1234kB, anon-rss:100kB'
	'oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task=bash,pid=1,uid=0'
	'bash invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0'
	'ksoftirqd/0: page allocation failure: order:0, mode:0x820(GFP_ATOMIC), nodemask=(null)'
	'SLUB: Unable to allocate memory on CPU 0 (of node 0) on node -1, gfp=0x820(GFP_ATOMIC)'
	'kmemleak: Kernel memory leak detector disabled'
	'kmemleak: Memory pool empty, consider increasing CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE'
	'kmemleak: Cannot allocate a kmemleak_object structure'
	'kmemleak: Kmemleak disabled without freeing internal data.'
	'kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)'
	'unreferenced object 0xc5a3b000 (size 72):'
	'============================================================================='
	'BUG kmalloc-64 (Not tainted): Poison overwritten'
	'BUG rconntrack (Tainted: G    B   O      ): Redzone overwritten'
	'FIX rconntrack: Restoring Redzone 0xc1234567-0xc1234568=0xbb'
	'Bad page state in process bash  pfn:12345'
	'INFO: task kworker/0:1:23 blocked for more than 122 seconds.'
	'INFO: task bash:1 blocked on a mutex likely owned by task kworker/0:2:45.'
	'watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [ksoftirqd/0:15]'
	'watchdog: CPU1: Watchdog detected hard LOCKUP on cpu 1'
	'BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!'
	'UBSAN: array-index-out-of-bounds in net/rconntrack/table.c:12:3'
	'refcount_t: underflow; use-after-free.'
	'list_add corruption. prev->next should be next (c1234), but was c5678.'
	'list_del corruption, ffff888003a7b0c8->next is LIST_POISON1 (dead000000000100)'
	'DEBUG_LOCKS_WARN_ON(1)'
	'WARNING: possible circular locking dependency detected'
	'WARNING: possible recursive locking detected'
	'WARNING: inconsistent lock state'
	'WARNING: suspicious RCU usage'
	'INFO: trying to register non-static key.'
	'turning off the locking correctness validator.'
	'BUG: scheduling while atomic: swapper/0/0/0x00000002'
	'BUG: sleeping function called from invalid context at mm/slub.c:4100'
	'rconntrack: preempt count leak in lock_all'
	'note: insmod[123] exited with preempt_count 1'
	'huh, entered softirq 3 NET_RX c1234 with preempt_count 00000101, exited with 00000102?'
	'timer: rct_gc+0x0/0x10 preempt leak: 00000101 -> 00000102'
	'BUG: workqueue leaked atomic, lock or RCU: kworker/0:1[12]'
)
i=0
for r in "${reports[@]}"; do
	i=$((i + 1))
	line="[   42.123456] $r"
	# Live (after the first "ok 2"), then only in the dmesg replay.
	awk -v l="$line" '{ print } /^ok 2 / && !done { print l "\r"; done = 1 }' "$clean" > "$tmp/r$i.log"
	check "report (live): $r" fail_v "3 1 0" "$tmp/r$i.log" $TESTS
	awk -v l="$line" '/^RCT-DMESG-END/ { print l "\r" } { print }' "$clean" > "$tmp/d$i.log"
	check "report (dmesg replay): $r" fail_v "3 1 0" "$tmp/d$i.log" $TESTS
done
# A report printed onto a test's line on the live console is still seen.
check "report glued to a live result line fails" fail_v - \
	"$(edit glued '0,/^ok 2 /s/^ok 2 \(.*\)\r$/ok 2 \1[   12.3] BUG: KASAN: use-after-free in x\r/')" $TESTS

# --- The kernel's own runner, when its source is here (make deps puts it
# there): dummy tests passing, skipping, failing and XFAILing.
ksel=${KSRC:-$CACHE/src/linux-$KVER}/tools/testing/selftests
if [ -f "$ksel/run_kselftest.sh" ] && [ -x /usr/bin/perl ]; then
	k=$tmp/ksft
	mkdir -p "$k/kselftest" "$k/rconntrack"
	# Not the host's kernel log: the line writing to /dev/kmsg left out.
	sed '/\/dev\/kmsg/d' "$ksel/run_kselftest.sh" > "$k/run_kselftest.sh"
	chmod +x "$k/run_kselftest.sh"
	cp "$ksel"/kselftest/{runner.sh,ktap_helpers.sh,prefix.pl} "$k/kselftest/"
	echo "timeout=20" > "$k/rconntrack/settings"
	for t in pass:0 skip:4 fail:1 xfail:2; do
		printf '#!/bin/sh\necho "# output of %s"\nexit %s\n' "${t%:*}" "${t#*:}" > "$k/rconntrack/${t%:*}.sh"
		chmod +x "$k/rconntrack/${t%:*}.sh"
		echo "rconntrack:${t%:*}.sh"
	done > "$k/kselftest-list.txt"
	real() { # LOG TEST...: a run of the real runner on TESTS.
		local log=$1 a=() t rc
		shift
		for t in "$@"; do a+=(-t "rconntrack:$t"); done
		(cd "$k" && ./run_kselftest.sh "${a[@]}" 2>&1) > "$tmp/real.out"
		rc=$?
		mklog "$log" $rc < "$tmp/real.out"
	}
	real "$tmp/real-pass.log" pass.sh
	check "kernel runner: a passing test passes" pass_v "2 0 0" "$tmp/real-pass.log" pass.sh
	real "$tmp/real-all.log" pass.sh skip.sh fail.sh xfail.sh
	check "kernel runner: skip, fail and xfail fail" fail_v "2 3 0" "$tmp/real-all.log" \
		pass.sh skip.sh fail.sh xfail.sh
	RCT_ALLOW_SKIP=1 check "kernel runner: RCT_ALLOW_SKIP=1 lets the skip be a skip" \
		fail_v "2 2 1" "$tmp/real-all.log" pass.sh skip.sh fail.sh xfail.sh
	real "$tmp/real-nosuch.log" nosuch.sh
	check "kernel runner: a test that does not exist fails" fail_v - "$tmp/real-nosuch.log" nosuch.sh
else
	echo "# kernel runner cases left out: no $ksel/run_kselftest.sh (or no perl)"
fi

# --- check.sh's host-test counting.
c() { [ "$(cargo_test_counts "$1" "$2")" = "$3" ]; }
check "cargo: compile error is 1 failed" c 'error[E0308]: mismatched types
error: could not compile `rconntrack-host` (lib test) due to 1 previous error' 101 "0 1 0"
check "cargo: results of every test binary summed, ignored = skipped" c \
	'test result: ok. 42 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s
test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s' 0 "45 0 1"
check "cargo: failed tests counted" c \
	'test result: FAILED. 41 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out' 101 "41 2 0"
check "cargo: non-zero exit without a failed test is 1 failed" c \
	'test result: ok. 41 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out' 101 "41 1 0"
check "cargo: no output at all is 1 failed" c '' 0 "0 1 0"

# --- debian_mirror.
aptd=$tmp/apt
mkdir -p "$aptd/sources.list.d"
cat > "$aptd/sources.list" <<-'EOF'
	# deb http://commented.example/debian bookworm main
	deb [arch=amd64 signed-by=/x.gpg] https://download.docker.com/linux/debian bookworm stable
	deb http://security.debian.org/debian-security bookworm-security main
	deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
EOF
cat > "$aptd/sources.list.d/a.sources" <<-'EOF'
	Types: deb
	URIs: https://deb.nodesource.com/node_20.x
	Suites: nodistro
	Components: main

	Types: deb
	URIs: http://disabled.example/debian
	Suites: bookworm
	Components: main
	Enabled: no

	Types: deb-src deb
	# a comment
	URIs: http://proxy.local:3142/debian/
	Suites: bookworm bookworm-updates
	Components: contrib
	 main
	Signed-By:
	 -----BEGIN PGP PUBLIC KEY BLOCK-----
	 .
EOF
m() { [ "$(env -u DEBIAN_MIRROR RCT_APT_ETC="$1" bash -c '. "$0"; debian_mirror' "$RCT_ROOT/qemu/lib.sh")" = "$2" ]; }
check "mirror: first Debian archive of the deb822 sources" m "$aptd" http://proxy.local:3142/debian
echo "deb http://mirror.local/debian/ trixie main" > "$aptd/sources.list.d/0.list"
check "mirror: one-line list, in apt's order" m "$aptd" http://mirror.local/debian
check "mirror: deb.debian.org when nothing fits" m "$tmp/nonexistent" http://deb.debian.org/debian
check "mirror: DEBIAN_MIRROR wins" \
	[ "$(DEBIAN_MIRROR=http://x.local/debian/ bash -c '. "$0"; debian_mirror' "$RCT_ROOT/qemu/lib.sh")" = http://x.local/debian ]

echo "# $((ntest - nfail)) of $ntest harness checks passed"
[ $nfail = 0 ]
