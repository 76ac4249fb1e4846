#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot a test kernel with the guest rootfs and rconntrack, run a job.
#
#   vm.sh ARCH JOB [TEST...]
#   ARCH: x86_64 | i386
#   JOB:  check (kselftests, KTAP), run (demo), shell (demo + interactive
#         shell), bench (benchmarks), bench-smp (2-CPU scaling), probe
#         (KVM probe boot)
#
# The console is streamed to $CACHE/logs/<job>-<arch>-<time>.log, and
# qemu/verdict.sh judges it: exits non-zero on any failed, skipped (unless
# RCT_ALLOW_SKIP=1) or missing test, a timeout, a panic, or any kernel
# report (BUG, WARNING, lockdep, KASAN, SLUB, RCU stall, OOM, kmemleak...).
# For `check`, writes "P F S" to $CACHE/results/<arch> and the test times
# ("<seconds> <test>") to $CACHE/results/<arch>.times.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$RCT_ROOT/qemu/verdict.sh"
arch=${1:?usage: vm.sh ARCH JOB [TEST...]}
job=${2:?usage: vm.sh ARCH JOB [TEST...]}
shift 2
tests="$*"

case $arch in
x86_64) qemu=qemu-system-x86_64 mem=${RCT_MEM:-1024}
	# The bench holds 1M entries of each tracker.
	[ "$job" = bench ] && mem=${RCT_MEM:-2048} ;;
i386) qemu=qemu-system-i386 mem=${RCT_MEM:-3072} ;;
*) die "unknown arch $arch" ;;
esac
need_cmd "$qemu" qemu-system-x86
need_cmd cpio cpio
need_cmd gzip gzip
need_cmd gcc gcc
case $job in
check) tmo=${RCT_TIMEOUT:-2400} ;;
bench) tmo=${RCT_TIMEOUT:-3600} ;;
bench-smp) tmo=${RCT_TIMEOUT:-1800} ;;
bench-neigh) tmo=${RCT_TIMEOUT:-900} ;;
probe) tmo=${RCT_TIMEOUT:-40} ;;
*) tmo=${RCT_TIMEOUT:-600} ;;
esac

# RCT_KFLAVOUR=base or release: that kernel of qemu/kernel.sh (make bench).
kdir=$("$RCT_ROOT/qemu/kernel.sh" "$arch" "${RCT_KFLAVOUR:-test}")
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
if [ "$job" = bench ] || [ "$job" = bench-neigh ] || [ "$job" = profile ]; then
	# Guest time counts instructions: repeatable figures on a noisy host.
	accel=(-accel tcg -icount shift=0,sleep=off)
	smp=1
fi
if [ "$job" = bench-smp ]; then
	# Scaling: two vCPUs, one host thread each (MTTCG); wall clock, so
	# the host must be otherwise idle (selftests/bench_smp.sh).
	accel=(-accel tcg,thread=multi)
	smp=2
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
# The neighbour patches' own selftest, from the patched tree with the part
# of net/'s library it uses (selftests/neigh_net.sh runs it).
# Without it (a tree without the patches) neigh_net.sh fails, saying so.
mkdir -p "$run/ov/kselftest/net/lib/sh"
if [ -f "$ksrc/tools/testing/selftests/net/ipv6_p2p_neigh.sh" ]; then
	cp "$ksrc"/tools/testing/selftests/net/{ipv6_p2p_neigh.sh,lib.sh} "$run/ov/kselftest/net/"
	cp "$ksrc"/tools/testing/selftests/net/lib/sh/defer.sh "$run/ov/kselftest/net/lib/sh/"
fi
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
# The tests asked for: those named, else all of selftests/Makefile.
asked=${tests:-$progs}
# Skips fail the run unless RCT_ALLOW_SKIP=1 (kernels other than ours):
# the verdict reads the variable, selftests/lib.sh this file.
allow_skip=0
[ "${RCT_ALLOW_SKIP:-0}" = 1 ] && allow_skip=1
echo "$allow_skip" > "$run/ov/rct/allow_skip"
# torture.sh's duration (make torture MINUTES=N).
[ -n "${RCT_TORTURE_SECS:-}" ] && echo "$RCT_TORTURE_SECS" > "$run/ov/rct/torture_secs"
[ -n "${RCT_TORTURE_BIG:-}" ] && echo "$RCT_TORTURE_BIG" > "$run/ov/rct/torture_big"
# The runner's per-test limit (settings) must cover a long torture run.
[ -n "${RCT_TORTURE_SECS:-}" ] &&
	echo "timeout=$((RCT_TORTURE_SECS + 1800))" > "$run/ov/kselftest/rconntrack/settings"
echo "$arch" > "$run/ov/rct/arch"
(cd "$run/ov" && find . | cpio -o -H newc --quiet | gzip -1) > "$run/overlay.cpio.gz"
cat "$base" "$run/overlay.cpio.gz" > "$run/initrd.img"

log=$LOGS/$job-$arch-$(date +%Y%m%d-%H%M%S).log
log "booting $arch ($job, ${accel[*]}, ${mem} MiB), console: $log"
console=(-nographic -serial mon:stdio)
# KUnit: only our suites (rconntrack, rconntrack_abi), at module load. The
# kernel's own built-in suites would run at boot and are not ours to judge
# (on i386, kernel::fmt's test_ptr_formatting leaks CStrings that the
# kmemleak check would report).
append="console=ttyS0 panic=-1 oops=panic rct.job=$job kunit.filter_glob=rconntrack*"
# i386 has no KASAN: SLUB's own checks (consistency, red zones, poisoning,
# owner tracking) are its memory-corruption detector. Not for bench, whose
# figures they would skew.
if [ "$arch" = i386 ]; then
	case $job in check | exec) append+=" slub_debug=FZPU" ;; esac
fi
# Leaks are the i386 guest's to find: it runs every test the x86_64 guest
# runs (but big_tcp.sh, which allocates nothing of the module's) with
# kmemleak on. On x86_64, under KASAN, kmemleak's stack trace of every
# allocation made each process start cost twice as much (0.184 s against
# 0.084 s for /bin/true, 0.44 s against 0.18 s for `ip netns exec NS
# true`, measured in this guest), and the tests start thousands. So the
# x86_64 guest boots with it off (RCT_X86_64_KMEMLEAK=1 keeps it on), and
# guest-job.sh reports it as switched off by this parameter.
if [ "$arch" = x86_64 ] && [ "${RCT_X86_64_KMEMLEAK:-0}" != 1 ]; then
	case $job in check | exec) append+=" kmemleak=off" ;; esac
fi
# RCT_APPEND: more kernel parameters (experiments).
[ -n "${RCT_APPEND:-}" ] && append+=" $RCT_APPEND"
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
	# alarming, but not the replay at the end (RCT_VERBOSE=1: everything).
	filter="^(#|ok |not ok |TAP |1\\.\\.|RCT-)|$RCT_BAD_RE"
	hide='/^RCT-KTAP-BEGIN/,/^RCT-KTAP-END/d; /^RCT-DMESG-BEGIN/,/^RCT-DMESG-END/d'
	if [ "${RCT_VERBOSE:-0}" = 1 ] || [ "$job" != check ]; then
		filter=. hide=
	fi
	tail -n +1 --pid=$qpid -f "$log" 2>/dev/null | grep -aE --line-buffered "$filter" |
		sed -u "$hide" || true
	wait $qpid
fi
qrc=$?
set -e

# Verdict (qemu/verdict.sh has the rules).
[ "$qrc" != 124 ] || log "$arch: timed out after ${tmo}s"
if [ "$job" = check ]; then
	# shellcheck disable=SC2086 # one word per test
	counts=$(RCT_ALLOW_SKIP=$allow_skip "$RCT_ROOT/qemu/verdict.sh" -j check -r "$qrc" \
		"$log" "$arch" $asked) || true
	# A verdict that cannot count is a failure.
	[[ $counts =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] || counts="0 1 0"
	read -r pass fail skip <<< "$counts"
	mkdir -p "$CACHE/results"
	echo "$counts" > "$CACHE/results/$arch"
	tr -d '\r' < "$log" | sed -nE 's/^RCT-TIME ([^ ]+) ([0-9]+\.[0-9]+)$/\2 \1/p' \
		> "$CACHE/results/$arch.times"
	log "$arch: $pass passed, $fail failed, $skip skipped (log: $log)"
	[ "$fail" = 0 ]
	exit
fi
RCT_ALLOW_SKIP=$allow_skip "$RCT_ROOT/qemu/verdict.sh" -j "$job" -r "$qrc" "$log" "$arch" > /dev/null
