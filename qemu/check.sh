#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Everything `make check` runs: host unit tests, lints (clippy, rustfmt,
# rustdoc, checkpatch, patches apply), then the kselftests in an x86_64 and
# an i386 guest. Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/lib.sh"
ARCHES=${ARCHES:-x86_64 i386}
pass=0 fail=0 skip=0
result() { # NAME RC
	if [ "$2" = 0 ]; then
		pass=$((pass + 1)); echo "ok - $1"
	else
		fail=$((fail + 1)); echo "not ok - $1"
	fi
}
# slowest: the five slowest kselftests of each guest (warm-run tuning).
slowest() {
	local a t
	for a in $ARCHES; do
		t=$CACHE/results/$a.times
		[ -s "$t" ] || continue
		echo "slowest on $a: $(sort -k1,1 -rn "$t" | head -n 5 |
			awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1 }')"
	done
}
# finish: the summary, always the last line, whatever stopped the run.
finish() {
	slowest
	echo "check took $(( $(date +%s) - start ))s"
	echo "$pass passed, $fail failed, $skip skipped"
	[ $fail = 0 ]
	exit
}
start=$(date +%s)
# No counts or times of an earlier run: a guest that does not run now must
# not look as if it did.
for arch in $ARCHES; do
	rm -f "$CACHE/results/$arch" "$CACHE/results/$arch.times"
done
"$RCT_ROOT/qemu/deps.sh" || { result "dependencies (qemu/deps.sh)" 1; finish; }
# Tools this script calls itself (deps.sh installs perl; cargo is rustup's).
(need_cmd cargo "a Rust toolchain (rustup)" && need_cmd perl perl) || { result "host tools" 1; finish; }

# Host unit tests of the pure logic, counted test by test; a run that
# cannot report counts (compile error) is one failure: cargo_test_counts.
out=$(cd "$RCT_ROOT/rust/host" && cargo test --quiet 2>&1)
rc=$?
read -r p f s <<< "$(cargo_test_counts "$out" $rc)"
echo "$out" | grep -E '^test result'
if [ "$f" = 0 ]; then
	echo "ok - cargo test: $p passed"
else
	echo "$out" | tail -n 30
	echo "not ok - cargo test: $p passed, $f failed"
fi
pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))

# The verdict logic and the counting above, on canned logs (seconds).
out=$("$RCT_ROOT/qemu/harness-test.sh" 2>&1)
rc=$?
[ $rc = 0 ] || echo "$out" | grep -v '^ok ' | tail -n 40
result "harness verdict self-test" $rc

# Patches: apply to pristine 7.3.4 in order, checkpatch --strict clean.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ksrc=${KSRC:-$CACHE/src/linux-$KVER}
rc=0
for p in $(grep -v '^#' "$RCT_ROOT/patches/series"); do
	files=$(grep -E '^\+\+\+ b/' "$RCT_ROOT/patches/$p" | sed 's|^+++ b/||')
	for f in $files; do
		[ -f "$ksrc/$f" ] && mkdir -p "$tmp/$(dirname "$f")" && [ ! -f "$tmp/$f" ] && cp "$ksrc/$f" "$tmp/$f"
	done
	patch -d "$tmp" -p1 -s --dry-run < "$RCT_ROOT/patches/$p" > /dev/null &&
		patch -d "$tmp" -p1 -s < "$RCT_ROOT/patches/$p" > /dev/null || { echo "$p does not apply"; rc=1; }
	# "does MAINTAINERS need updating?" is asked of every new file; the
	# answer is no when an F: line of MAINTAINERS already covers its
	# directory (a new selftest in tools/testing/selftests/net/): checked
	# here instead.
	cp=$(perl "$ksrc/scripts/checkpatch.pl" --strict --no-tree -q --ignore FILE_PATH_CHANGES \
		"$RCT_ROOT/patches/$p" 2>&1)
	if [ -n "$cp" ]; then echo "$cp" | head -n 20; rc=1; fi
	if ! grep -q '^ MAINTAINERS ' "$RCT_ROOT/patches/$p"; then
		for f in $(grep -B1 '^new file mode' "$RCT_ROOT/patches/$p" | sed -n 's|^diff --git a/\([^ ]*\) .*|\1|p'); do
			grep -qxF "F:	$(dirname "$f")/" "$ksrc/MAINTAINERS" ||
				{ echo "$p: new file $f: no MAINTAINERS entry covers $(dirname "$f")/"; rc=1; }
		done
	fi
done
result "patches apply in order and are checkpatch --strict clean" $rc

for arch in $ARCHES; do
	# Build warnings, clippy, rustfmt and rustdoc for the module.
	"$RCT_ROOT/qemu/kernel.sh" "$arch" > /dev/null || { result "$arch kernel build" 1; continue; }
	out=$("$RCT_ROOT/qemu/module.sh" "$arch" CLIPPY=1 W=1 2>&1 >/dev/null)
	rc=$?
	warn=$(echo "$out" | grep -E '^(warning|error)|warning:|error:' | grep -v '^make' || true)
	[ -z "$warn" ] || { echo "$warn" | head -n 30; rc=1; }
	result "$arch module builds with CLIPPY=1 W=1, no warnings" $rc
	if [ "$arch" = i386 ]; then
		# rust-lang/rust#145694: no 64-bit scalar or struct by value may
		# cross from Rust to C on i386 (qemu/abi-lint.sh).
		out=$("$RCT_ROOT/qemu/abi-lint.sh" "$arch" 2>&1); rc=$?
		[ $rc = 0 ] || echo "$out" | grep -v '^abi-lint: allowed' | tail -n 30
		result "i386 ABI lint: no 64-bit or by-value struct across Rust/C" $rc
		out=$("$RCT_ROOT/qemu/rustc-gate.sh" 2>&1); rc=$?
		[ $rc = 0 ] || echo "$out" | tail -n 10
		result "i386 Kconfig gate: Rust needs rustc 1.91 (0001)" $rc
	fi
	if [ "$arch" = x86_64 ]; then
		# rustfmtcheck, with the kernel's rustfmt configuration.
		out=$(cd "$RCT_ROOT" && rustfmt --edition 2021 --check \
			--config-path "$CACHE/src/linux-$KVER-rct/.rustfmt.toml" \
			$(find rust -name '*.rs' -not -path '*/target/*') 2>&1)
		rc=$?
		[ $rc = 0 ] || echo "$out" | head -n 30
		result "rustfmt --check (kernel rustfmt.toml)" $rc
		out=$("$RCT_ROOT/qemu/rustdoc.sh" "$arch" 2>&1)
		rc=$?
		[ $rc = 0 ] || echo "$out" | grep -v '^make' | tail -n 30
		result "rustdoc of the module, warnings denied" $rc
	fi
done

# The guest runs (kselftests, and KUnit through load.sh), all architectures
# at once: each guest mostly keeps one CPU busy. RCT_PARALLEL=0 runs them
# one after the other.
#
# Which tests each guest runs (RCT_TESTS overrides both). The i386 guest
# (PREEMPT with DEBUG_PREEMPT, slub_debug, the real 1024 stripes, kmemleak)
# runs all of them. The x86_64 guest (KASAN, lockdep; kmemleak off at boot,
# see vm.sh: about three times slower under TCG) runs the tests whose failures those detectors exist
# for: load and KUnit, the TCP path, the NAT and ICMP-error paths (the
# per-CPU note), resizes and races, teardown under traffic. The protocol
# semantics tests are the same code on both.
#
# big_tcp.sh runs on x86_64 only: the emulated i386 guest's TCP rarely
# builds a TSO burst over 64 KiB (one packet in 4 MB once, none in 16 MB
# another time), so there the test could not show what it checks. The
# parser's side of BIG TCP is the same code on both (and host-tested).
X86_64_TESTS=${RCT_X86_64_TESTS:-"load.sh proto.sh tcp_states.sh nat.sh related.sh big_tcp.sh resize.sh torture.sh clash.sh unload_flood.sh unload_race.sh netns_churn.sh"}
I386_NOT=${RCT_I386_NOT:-"big_tcp.sh"}
tests_for() {
	local t
	if [ -n "${RCT_TESTS:-}" ]; then
		echo "$RCT_TESTS"
	elif [ "$1" = x86_64 ]; then
		echo "$X86_64_TESTS"
	else
		for t in $(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$RCT_ROOT/selftests/Makefile" | sed -n 's/^TEST_PROGS *:= *//p'); do
			case " $I386_NOT " in *" $t "*) ;; *) echo "$t" ;; esac
		done
	fi
}
mkdir -p "$CACHE/run"
pids=()
for arch in $ARCHES; do
	[ -f "$(kernel_dir "$arch")/.rct-done" ] || continue
	# shellcheck disable=SC2046 # one word per test
	if [ "${RCT_PARALLEL:-1}" = 1 ]; then
		"$RCT_ROOT/qemu/vm.sh" "$arch" check $(tests_for "$arch") > "$CACHE/run/check-$arch.out" 2>&1 &
		pids+=($!)
	else
		"$RCT_ROOT/qemu/vm.sh" "$arch" check $(tests_for "$arch") 2>&1 | tee "$CACHE/run/check-$arch.out" > /dev/null
	fi
done
# The mutants while the guests run: the smoke mutant is a short i386 boot
# of its own (its own build directory), 20 s beside the guests instead of
# before them.
# Mutants: every patch still applies (seconds), and one mutant runs for
# real and must be killed (the mechanism works; `make mutants` runs all).
out=$("$RCT_ROOT/qemu/mutants.sh" --check 2>&1); rc=$?
[ $rc = 0 ] || echo "$out" | tail -n 20
result "mutants: every patch applies to the tree" $rc
if [ "${RCT_MUTANT_SMOKE:-1}" = 1 ] && [ -f "$(kernel_dir i386)/.rct-done" ]; then
	out=$("$RCT_ROOT/qemu/mutants.sh" --smoke 2>&1); rc=$?
	[ $rc = 0 ] || echo "$out" | tail -n 20
	result "mutant smoke test: the stat-header mutant is killed by stat.sh (i386)" $rc
fi
for p in "${pids[@]}"; do wait "$p"; done
for arch in $ARCHES; do
	[ -f "$CACHE/run/check-$arch.out" ] && grep -v '^make' "$CACHE/run/check-$arch.out"
	# vm.sh writes "P F S"; a guest run without them is one failure.
	counts=$(cat "$CACHE/results/$arch" 2>/dev/null)
	if [[ $counts =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; then
		read -r p f s <<< "$counts"
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	else
		result "$arch guest run (no counts)" 1
	fi
done
finish
