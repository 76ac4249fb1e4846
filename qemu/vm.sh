#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot a test kernel with the guest rootfs and rconntrack, run a job.
#
#   vm.sh ARCH JOB [TEST...]
#   ARCH: x86_64 | i386
#   JOB:  check (kselftests, KTAP), run (demo), shell (demo + interactive
#         shell), bench (benchmarks), probe (KVM probe boot)
#
# The console is streamed to $CACHE/logs/<job>-<arch>-<time>.log. For
# `check`, exits non-zero on any failed test, a timeout, a panic, or a
# BUG:/WARNING:/lockdep/KASAN/kmemleak report, and writes the counts to
# $CACHE/results/<arch>.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
arch=${1:?usage: vm.sh ARCH JOB [TEST...]}
job=${2:?usage: vm.sh ARCH JOB [TEST...]}
shift 2
tests="$*"

case $arch in
x86_64) qemu=qemu-system-x86_64 mem=${RCT_MEM:-1024} ;;
i386) qemu=qemu-system-i386 mem=${RCT_MEM:-3072} ;;
*) die "unknown arch $arch" ;;
esac
case $job in
check) tmo=${RCT_TIMEOUT:-2400} ;;
bench) tmo=${RCT_TIMEOUT:-1800} ;;
probe) tmo=${RCT_TIMEOUT:-40} ;;
*) tmo=${RCT_TIMEOUT:-600} ;;
esac

kdir=$("$RCT_ROOT/qemu/kernel.sh" "$arch")
base=$("$RCT_ROOT/qemu/rootfs.sh" "$arch")
ksrc=$CACHE/src/linux-$KVER-rct
kernel=$kdir/arch/x86/boot/bzImage

# KVM: nested KVM may hang or fault here, so probe with a short boot once
# a day and fall back to TCG.
accel=(-accel tcg)
if [ "${RCT_ACCEL:-auto}" = kvm ] || { [ "${RCT_ACCEL:-auto}" = auto ] && [ "$job" != probe ]; }; then
	probe=$CACHE/kvm-probe-$arch
	if [ ! -f "$probe" ] || [ -n "$(find "$probe" -mmin +1440)" ]; then
		if [ -w /dev/kvm ] && RCT_ACCEL=kvm-probe "$0" "$arch" probe >/dev/null 2>&1; then
			echo yes > "$probe"
		else
			echo no > "$probe"
		fi
	fi
	[ "$(cat "$probe")" = yes ] && accel=(-accel kvm -cpu host)
fi
[ "${RCT_ACCEL:-}" = kvm-probe ] && accel=(-accel kvm -cpu host)
[ "${RCT_ACCEL:-}" = tcg ] && accel=(-accel tcg)
if [ "$job" = bench ]; then
	# Guest time counts instructions: repeatable figures on a noisy host.
	accel=(-accel tcg -icount shift=0,sleep=off)
	smp=1
fi

# Each job its own directory: the probe above, and guests of both
# architectures running at once, must not share one.
run=$CACHE/run/$arch-$job
rm -rf "$run"
# Paths under usr/: a directory entry for lib/ would replace the base
# image's lib -> usr/lib symlink when the archives are unpacked.
mkdir -p "$run/ov/rct" "$run/ov/usr/lib/modules/rconntrack" "$run/ov/kselftest/kselftest"
if [ "$job" != probe ]; then
	mod=$("$RCT_ROOT/qemu/module.sh" "$arch")/rconntrack.ko
	cp "$mod" "$run/ov/usr/lib/modules/rconntrack/" || die "no module for $arch"
	cp -a "$kdir"/modroot/lib/modules/* "$run/ov/usr/lib/modules/" || die "no kernel modules for $arch"
fi
# The kernel's own kselftest runner, and our tests as collection "rconntrack".
cp "$ksrc/tools/testing/selftests/run_kselftest.sh" "$run/ov/kselftest/"
cp "$ksrc"/tools/testing/selftests/kselftest/{runner.sh,ktap_helpers.sh,prefix.pl,module.sh} \
	"$run/ov/kselftest/kselftest/"
mkdir -p "$run/ov/kselftest/rconntrack"
cp -a "$RCT_ROOT"/selftests/. "$run/ov/kselftest/rconntrack/"
# The packet crafting helper, static, for the guest's architecture.
cflags=(-static -O2 -Wall -Wextra)
[ "$arch" = i386 ] && cflags+=(-m32)
gcc "${cflags[@]}" -o "$run/ov/kselftest/rconntrack/rct_pkt" "$RCT_ROOT/selftests/rct_pkt.c" ||
	die "cannot build selftests/rct_pkt.c for $arch"
progs=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$RCT_ROOT/selftests/Makefile" | sed -n 's/^TEST_PROGS *:= *//p')
for t in $progs; do
	echo "rconntrack:$t"
done > "$run/ov/kselftest/kselftest-list.txt"
cp "$RCT_ROOT/qemu/guest-job.sh" "$run/ov/rct/job.sh"
echo "$tests" > "$run/ov/rct/tests"
echo "$arch" > "$run/ov/rct/arch"
(cd "$run/ov" && find . | cpio -o -H newc --quiet | gzip -1) > "$run/overlay.cpio.gz"
cat "$base" "$run/overlay.cpio.gz" > "$run/initrd.img"

log=$LOGS/$job-$arch-$(date +%Y%m%d-%H%M%S).log
log "booting $arch ($job, ${accel[*]}, ${mem} MiB), console: $log"
console=(-nographic -serial mon:stdio)
append="console=ttyS0 panic=-1 oops=panic rct.job=$job"
qemu_cmd=("$qemu" "${accel[@]}" -m "$mem" -smp "${smp:-2}" -no-reboot
	-kernel "$kernel" -initrd "$run/initrd.img" -append "$append" "${console[@]}")
if [ "$job" = shell ] && [ -t 0 ]; then
	"${qemu_cmd[@]}" 2>&1 | tee "$log"
	exit 0
fi
set +e
timeout --foreground "$tmo" "${qemu_cmd[@]}" < /dev/null > "$log" 2>&1 &
qpid=$!
if [ "${RCT_QUIET:-0}" = 1 ]; then
	wait $qpid
else
	# The full console is in the log; show the test results and anything
	# alarming (RCT_VERBOSE=1: everything).
	filter='^(#|ok |not ok |TAP |1\.\.|RCT-)|BUG:|WARNING:|Kernel panic|KASAN:|kmemleak|Oops'
	[ "${RCT_VERBOSE:-0}" = 1 ] || [ "$job" != check ] && filter=.
	tail -n +1 --pid=$qpid -f "$log" 2>/dev/null | grep -aE --line-buffered "$filter" || true
	wait $qpid
fi
qrc=$?
set -e

# Verdict.
bad_re='BUG:|WARNING:|Kernel panic|KASAN:|kmemleak: [0-9]+ new suspected|RCT-KMEMLEAK reports|unreferenced object|possible recursive locking|circular locking|general protection fault|Oops|RCU detected stall|rcu_.*self-detected stall|blocked for more than|UBSAN'
fails=0
[ $qrc = 124 ] && { log "$arch: timed out after ${tmo}s"; fails=$((fails + 1)); }
grep -q '^RCT-DONE' "$log" || { log "$arch: guest did not finish"; fails=$((fails + 1)); }
if grep -E "$bad_re" "$log" > "$run/bad.txt"; then
	log "$arch: kernel reported problems:"
	sed 's/^/    /' "$run/bad.txt" | head -n 40 >&2
	fails=$((fails + 1))
fi
if [ "$job" = probe ]; then
	grep -q RCT-PROBE-OK "$log" && [ $fails = 0 ]
	exit
fi
if [ "$job" = check ]; then
	pass=$(grep -cE '^ok [0-9]+ selftests: rconntrack: [^ ]+$' "$log" || true)
	skip=$(grep -cE '^ok [0-9]+ selftests: rconntrack: .*# SKIP' "$log" || true)
	fail=$(grep -cE '^not ok [0-9]+ selftests: rconntrack:' "$log" || true)
	total=$((pass + skip + fail))
	[ $total -gt 0 ] || { log "$arch: no test result in the log"; fails=$((fails + 1)); }
	fail=$((fail + fails))
	# Harness checks (clean boot, no kernel report) count as tests too.
	[ $fails = 0 ] && pass=$((pass + 1))
	mkdir -p "$CACHE/results"
	echo "$pass $fail $skip" > "$CACHE/results/$arch"
	log "$arch: $pass passed, $fail failed, $skip skipped (log: $log)"
	[ $fail = 0 ]
	exit
fi
[ $fails = 0 ]
