#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Mutation testing: proof that the kselftests bite. Each
# selftests/mutants/NN-name.patch breaks one behaviour; its header says on
# which architecture(s) and by which selftests it must be caught
# (selftests/mutants/README). For each mutant this copies the working tree
# to $CACHE/mutants/<name>/tree, applies the patch, builds the module and
# runs `vm.sh ARCH check TESTS...` from that copy, with a cache of its own
# (RCT_CACHE=$CACHE/mutants/<name>/cache: module, run dir, logs, results;
# the kernels, sources and rootfs of the main cache are linked in), so
# nothing is shared with another run. A failed run kills the mutant, a
# passing one means it survived.
#
#   mutants.sh [NAME...]    run these mutants (all by default); NAME: a
#                           file name, its number ("07") or its name part
#   mutants.sh --smoke      one cheap mutant (the stat header, stat.sh on
#                           x86_64): exits 0 only if it is killed (its
#                           table goes to results-smoke.md)
#   mutants.sh --check [NAME...]  no VM: every header is complete, every
#                           test exists, every patch applies (seconds)
#   mutants.sh --list       the mutants, their arches, tests, expectation
#   mutants.sh --baseline [NAME...]  first run the unmutated tree with the
#                           same tests, per arch (a failing baseline makes
#                           every kill meaningless)
#   mutants.sh --clean      remove $CACHE/mutants
#
# Prints, and writes to $CACHE/mutants/results.md, a table
# "mutant | arch | tests | result | seconds | detail". Results: killed,
# survived, untestable (none of its tests is in selftests/Makefile
# TEST_PROGS), stale (the patch no longer applies), build-error (the
# mutated module does not build: proves nothing), skipped (a kernel mutant
# without MUTANTS_KERNEL=1). Exits non-zero if any mutant survived, was
# untestable or stale, or failed to build.
#
# Environment: MUTANTS_KERNEL=1 runs kernel mutants too (each builds its
# own kernel, ~10 minutes and a few GiB under $CACHE/mutants/<name>; kept,
# so a re-run is incremental). MUTANTS_ARCH=x86_64|i386 runs every mutant
# on that arch instead of its own. MUTANTS_TIMEOUT: guest timeout in
# seconds (default: from the last check's test times, see guest_timeout).
# Module mutants need the main cache's kernels built and current (make
# kernel, or make check).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
MDIR=$RCT_ROOT/selftests/mutants
OUTD=$CACHE/mutants
SMOKE=17-stat-header-wrong
SMOKE_ARCH=i386

# field PATCH KEY: the header line "# KEY: value" of a mutant.
field() {
	sed -n "/^diff /q; s/^# $2: *//p" "$1" | head -n 1
}

is_kernel() { # PATCH: patches the kernel (its header says so, or it touches patches/)
	case $(field "$1" kernel) in yes*) return 0 ;; esac
	grep -qE '^\+\+\+ b/(patches/|qemu/config/|qemu/kernel\.sh)' "$1"
}

# test_progs ROOT: TEST_PROGS of ROOT/selftests/Makefile (as vm.sh reads it).
test_progs() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$1/selftests/Makefile" | sed -n 's/^TEST_PROGS *:= *//p'
}

# mutant_files NAME...: the patches asked for (all without NAME).
mutant_files() {
	local n m
	if [ $# = 0 ]; then
		ls "$MDIR"/*.patch
		return
	fi
	for n in "$@"; do
		n=${n##*/}
		n=${n%.patch}
		m=$(ls "$MDIR/$n.patch" "$MDIR/$n"-*.patch "$MDIR"/*-"$n".patch 2>/dev/null | sort -u)
		[ "$(echo "$m" | grep -c .)" = 1 ] || die "mutant '$n': $(echo "$m" | grep -c .) matches in $MDIR"
		echo "$m"
	done
}

# copy_tree DEST: the working tree (tracked or not, as vm.sh would use it)
# without the host build and .git.
copy_tree() {
	rm -rf "$1"
	mkdir -p "$1"
	tar -C "$RCT_ROOT" --exclude=./rust/host/target --exclude=./.git -cf - . | tar -C "$1" -xf -
}

# mutant_cache DIR KERNEL(0|1): a cache of its own; the main cache's
# sources, rootfs and (for module mutants) kernels linked in.
mutant_cache() {
	local mc=$1 kernel=$2 f
	mkdir -p "$mc" "$CACHE/rootfs"
	for f in src build; do
		# A real directory here is left from a run of the other kind.
		[ -d "$mc/$f" ] && [ ! -L "$mc/$f" ] && [ "$kernel" = 0 ] && rm -rf "${mc:?}/$f"
	done
	for f in rootfs apt-amd64 apt-i386 dl; do
		[ -e "$CACHE/$f" ] && ln -sfn "$CACHE/$f" "$mc/$f"
	done
	for f in "$CACHE"/kvm-probe-*; do
		[ -f "$f" ] && cp "$f" "$mc/"
	done
	if [ "$kernel" = 1 ]; then
		# Its own patched source and build; the pristine source shared
		# (kernel.sh only reads it).
		[ -L "$mc/src" ] && rm -f "$mc/src"
		[ -L "$mc/build" ] && rm -f "$mc/build"
		mkdir -p "$mc/src"
		ln -sfn "$CACHE/src/linux-$KVER" "$mc/src/linux-$KVER"
	else
		ln -sfn "$CACHE/src" "$mc/src"
		ln -sfn "$CACHE/build" "$mc/build"
	fi
}

# kernel_current TREE ARCH: the main cache's kernel for ARCH is built from
# what TREE would build (else kernel.sh would rebuild it through the link).
kernel_current() {
	local want
	want=$(RCT_ROOT=$1 kernel_hash "$2")
	[ "$(cat "$CACHE/build/$2/.rct-done" 2>/dev/null)" = "$want" ]
}

# guest_timeout ARCH TEST...: MUTANTS_TIMEOUT, else 240 s plus three times
# each test's time in the last `make check` ($CACHE/results/ARCH.times),
# 600 s for a test without one; at most 2400 (vm.sh's default).
guest_timeout() {
	local arch=$1 t s sum=240
	shift
	if [ -n "${MUTANTS_TIMEOUT:-}" ]; then
		echo "$MUTANTS_TIMEOUT"
		return
	fi
	for t in "$@"; do
		s=$(awk -v t="$t" '$2 == t { printf "%d\n", $1 + 1; exit }' "$CACHE/results/$arch.times" 2>/dev/null)
		if [ -n "$s" ]; then sum=$((sum + 3 * s)); else sum=$((sum + 600)); fi
	done
	[ $sum -gt 2400 ] && sum=2400
	echo $sum
}

# detail OUT ARCH: why a run failed, in one line.
detail() {
	local out=$1 arch=$2 failed d=""
	failed=$(grep -aoE '^not ok [0-9]+ selftests: rconntrack: [^ ]+' "$out" | sed 's/.*: //' | sort -u | tr '\n' ' ')
	[ -n "$failed" ] && d="failed: ${failed% }"
	grep -aq 'kernel reported problems' "$out" && d="${d:+$d; }kernel report"
	grep -aq "$arch: timed out" "$out" && d="${d:+$d; }timed out"
	if [ -z "$d" ]; then
		d=$(grep -aE "^\[rconntrack\] ($arch: |error: )" "$out" | grep -avE 'passed, [0-9]+ failed|booting' | head -n 1)
		d=${d#\[rconntrack\] }
	fi
	echo "${d:0:120}"
}

RESULTS=()
BAD=0
RESULTS_MD=$OUTD/results.md
row() { # MUTANT ARCH TESTS RESULT SECONDS DETAIL
	local r="| $1 | $2 | $3 | $4 | $5 | $6 |"
	RESULTS+=("$r")
	echo "$r"
	case $4 in survived | untestable | stale | build-error | error | FAIL) BAD=1 ;; esac
	write_results
}
write_results() {
	{
		echo "# Mutation testing ($(date -u '+%Y-%m-%d %H:%M UTC'))"
		echo
		echo "| mutant | arch | tests | result | seconds | detail |"
		echo "| --- | --- | --- | --- | --- | --- |"
		printf '%s\n' "${RESULTS[@]}"
	} > "$RESULTS_MD.tmp" && mv "$RESULTS_MD.tmp" "$RESULTS_MD"
}

# run_one NAME PATCH ARCH TEST...: one mutant (PATCH "" for the baseline)
# on one arch; prints its row.
run_one() {
	local name=$1 patch=$2 arch=$3 kernel=0 dir tree mc out t0 rc tmo res
	shift 3
	dir=$OUTD/$name
	tree=$dir/tree
	mc=$dir/cache
	out=$dir/$arch.out
	t0=$(date +%s)
	copy_tree "$tree"
	if [ -n "$patch" ]; then
		is_kernel "$patch" && kernel=1
		if ! patch -d "$tree" -p1 -s --fuzz=0 --dry-run < "$patch" > /dev/null 2>&1; then
			row "$name" "$arch" "$*" stale 0 "patch does not apply to the current tree"
			return
		fi
		patch -d "$tree" -p1 -s --fuzz=0 --no-backup-if-mismatch < "$patch" > /dev/null
	fi
	if [ $kernel = 0 ] && ! kernel_current "$tree" "$arch"; then
		row "$name" "$arch" "$*" error 0 "$arch kernel in $CACHE/build missing or stale: make kernel ARCHES=$arch"
		return
	fi
	mutant_cache "$mc" $kernel
	rm -f "$mc/results/$arch"
	log "$name: building the module for $arch (log: $out)"
	if ! RCT_CACHE=$mc "$tree/qemu/module.sh" "$arch" > "$out" 2>&1; then
		row "$name" "$arch" "$*" build-error $(($(date +%s) - t0)) "$(grep -aE 'error(\[E[0-9]+\])?:' "$out" | head -n 1 | cut -c1-120)"
		return
	fi
	tmo=$(guest_timeout "$arch" "$@")
	log "$name: $arch guest, tests: $* (timeout ${tmo}s)"
	RCT_CACHE=$mc RCT_TIMEOUT=$tmo "$tree/qemu/vm.sh" "$arch" check "$@" >> "$out" 2>&1
	rc=$?
	if [ -z "$patch" ]; then
		if [ $rc = 0 ]; then res=pass; else res=FAIL; fi
	elif [ $rc = 0 ]; then
		res=survived
	else
		res=killed
	fi
	row "$name" "$arch" "$*" $res $(($(date +%s) - t0)) "$( [ $rc = 0 ] || detail "$out" "$arch")"
}

# plan PATCH: "ARCH|RUNNABLE TESTS|MISSING TESTS" lines for a mutant.
plan() {
	local p=$1 arches tests progs t run miss a
	arches=${MUTANTS_ARCH:-$(field "$p" arch)}
	tests=$(field "$p" tests)
	progs=" $(test_progs "$RCT_ROOT" | tr -s ' \t\n' ' ') "
	run="" miss=""
	for t in $tests; do
		case $progs in *" $t "*) run="$run $t" ;; *) miss="$miss $t" ;; esac
	done
	for a in $arches; do
		echo "$a|${run# }|${miss# }"
	done
}

cmd_check() {
	local p bad=0 name a t arch tests files run miss
	files=$(mutant_files "$@") || exit 1
	for p in $files; do
		name=$(basename "$p" .patch)
		arch=$(field "$p" arch) tests=$(field "$p" tests)
		[ -n "$(field "$p" breaks)" ] || { echo "not ok - $name: no '# breaks:' line"; bad=1; }
		[ -n "$(field "$p" expect)" ] || { echo "not ok - $name: no '# expect:' line"; bad=1; }
		[ -n "$arch" ] || { echo "not ok - $name: no '# arch:' line"; bad=1; }
		for a in $arch; do
			case $a in x86_64 | i386) ;; *) echo "not ok - $name: unknown arch '$a'"; bad=1 ;; esac
		done
		[ -n "$tests" ] || { echo "not ok - $name: no '# tests:' line"; bad=1; }
		for t in $tests; do
			[ -f "$RCT_ROOT/selftests/$t" ] || { echo "not ok - $name: no selftests/$t"; bad=1; }
		done
		if ! patch -d "$RCT_ROOT" -p1 -s --fuzz=0 --dry-run < "$p" > /dev/null 2>&1; then
			echo "not ok - $name: does not apply to the current tree"
			bad=1
			continue
		fi
		IFS='|' read -r _ run miss <<< "$(plan "$p" | head -n 1)"
		if [ -z "$run" ]; then
			echo "ok - $name applies (untestable: none of '$tests' is in TEST_PROGS)"
		elif [ -n "$miss" ]; then
			echo "ok - $name applies (not in TEST_PROGS: $miss)"
		else
			echo "ok - $name applies"
		fi
	done
	return $bad
}

cmd_list() {
	local p files
	files=$(mutant_files "$@") || exit 1
	printf '%-36s %-13s %-34s %s\n' MUTANT ARCH TESTS EXPECT
	for p in $files; do
		printf '%-36s %-13s %-34s %s\n' "$(basename "$p" .patch)$(is_kernel "$p" && echo ' [kernel]')" \
			"$(field "$p" arch)" "$(field "$p" tests)" "$(field "$p" expect | cut -c1-60)"
	done
}

cmd_run() {
	local baseline=$1 p name a run miss l
	shift
	local files
	files=$(mutant_files "$@") || exit 1
	mkdir -p "$OUTD"
	exec 9> "$OUTD/.lock"
	flock -n 9 || die "another mutants.sh is running ($OUTD/.lock)"
	if [ "$baseline" = 1 ]; then
		# The unmutated tree, once per arch, with every test the mutants use.
		declare -A union=()
		for p in $files; do
			is_kernel "$p" && [ "${MUTANTS_KERNEL:-0}" != 1 ] && continue
			while IFS='|' read -r a run miss; do
				union[$a]="${union[$a]:-} $run"
			done < <(plan "$p")
		done
		for a in "${!union[@]}"; do
			# shellcheck disable=SC2046 # one word per test
			run_one baseline "" "$a" $(echo "${union[$a]}" | tr ' ' '\n' | grep . | sort -u)
		done
	fi
	for p in $files; do
		name=$(basename "$p" .patch)
		if is_kernel "$p" && [ "${MUTANTS_KERNEL:-0}" != 1 ]; then
			row "$name" "$(field "$p" arch)" "$(field "$p" tests)" skipped 0 "kernel mutant: MUTANTS_KERNEL=1 runs it (a kernel build)"
			continue
		fi
		while IFS='|' read -r a run miss; do
			if [ -z "$run" ]; then
				row "$name" "$a" "$(field "$p" tests)" untestable 0 "not in selftests/Makefile TEST_PROGS: $miss"
				continue
			fi
			# shellcheck disable=SC2086 # one word per test
			run_one "$name" "$p" "$a" $run
			if [ -n "$miss" ]; then
				l=${RESULTS[-1]}
				RESULTS[-1]="${l% |} (not in TEST_PROGS: $miss) |"
				write_results
			fi
		done < <(plan "$p")
	done
	echo
	echo "results: $RESULTS_MD"
	echo "$(printf '%s\n' "${RESULTS[@]}" | grep -c '| killed |') killed, $(printf '%s\n' "${RESULTS[@]}" | grep -c '| survived |') survived, $(printf '%s\n' "${RESULTS[@]}" | grep -cE '\| (untestable|stale|build-error|error|skipped|FAIL) \|') other"
	return $BAD
}

case ${1:-} in
--check)
	shift
	cmd_check "$@"
	;;
--list)
	shift
	cmd_list "$@"
	;;
--clean)
	rm -rf "$OUTD"
	;;
--smoke)
	RESULTS_MD=$OUTD/results-smoke.md MUTANTS_ARCH=$SMOKE_ARCH cmd_run 0 "$SMOKE" &&
		grep -q "^| $SMOKE | $SMOKE_ARCH | .* | killed |" "$OUTD/results-smoke.md"
	;;
--baseline)
	shift
	cmd_run 1 "$@"
	;;
-*)
	sed -n 's/^#   //p' "$0"
	exit 2
	;;
*)
	cmd_run 0 "$@"
	;;
esac
