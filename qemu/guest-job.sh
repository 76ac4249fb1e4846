#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (as /rct/job.sh): the job named on the kernel
# command line (rct.job=...).
MOD=/lib/modules/rconntrack/rconntrack.ko
job=$1

# kmemleak_check: prints "RCT-KMEMLEAK clean", "RCT-KMEMLEAK absent" (a
# kernel built without it), or a failure the verdict catches and returns 1:
# "RCT-KMEMLEAK reports:" and the leaks, or "RCT-KMEMLEAK FAIL: why".
# debugfs files have size 0, so the report is read, never tested with -s; a
# kernel with CONFIG_DEBUG_KMEMLEAK (/proc/config.gz) where the file is
# missing or a scan is refused (kmemleak disabled itself) is a failure.
kmemleak_check() {
	local f=/sys/kernel/debug/kmemleak want=unknown out cfg
	cfg=$(zcat /proc/config.gz 2>/dev/null || busybox gunzip -c /proc/config.gz 2>/dev/null)
	if [ -n "$cfg" ]; then
		want=no
		printf '%s\n' "$cfg" | grep -qx 'CONFIG_DEBUG_KMEMLEAK=y' && want=yes
	fi
	# qemu/vm.sh switches it off in the x86_64 guest (the i386 guest
	# checks leaks); only that way, by that parameter, is absent fine.
	if [ "$want" = yes ] && grep -qE '(^| )kmemleak=off( |$)' /proc/cmdline; then
		echo "RCT-KMEMLEAK absent (kmemleak=off on the command line: the i386 guest checks leaks)"
		return 0
	fi
	if [ ! -e $f ]; then
		case $want in
		no) echo "RCT-KMEMLEAK absent (kernel without CONFIG_DEBUG_KMEMLEAK)"; return 0 ;;
		yes) echo "RCT-KMEMLEAK FAIL: CONFIG_DEBUG_KMEMLEAK=y but no $f" ;;
		*) echo "RCT-KMEMLEAK FAIL: no $f, and no /proc/config.gz to tell whether there should be" ;;
		esac
		return 1
	fi
	# Two scans: an object is reported once it is a few seconds old.
	if ! echo scan 2>/dev/null > $f || ! sleep 2 || ! echo scan 2>/dev/null > $f; then
		echo "RCT-KMEMLEAK FAIL: 'echo scan > $f' refused: kmemleak disabled itself (see the kernel log)"
		return 1
	fi
	if ! out=$(cat $f); then
		echo "RCT-KMEMLEAK FAIL: cannot read $f"
		return 1
	fi
	if [ -n "$out" ]; then
		# Only "unreferenced object" reports are ever there; anything
		# else is unexpected, and fails too.
		echo "RCT-KMEMLEAK reports:"
		printf '%s\n' "$out" | head -n 60
		return 1
	fi
	echo "RCT-KMEMLEAK clean"
}

# fifo_writers PATH: the processes with PATH open for writing (the low two
# bits of fdinfo's octal flags are the access mode: 1 write, 2 read-write).
fifo_writers() {
	local f p fd fl
	for f in /proc/[0-9]*/fd/*; do
		[ "$f" -ef "$1" ] 2>/dev/null || continue
		p=${f#/proc/}
		p=${p%%/*}
		fd=${f##*/}
		fl=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$p/fdinfo/$fd" 2>/dev/null)
		[ -n "$fl" ] && [ $(( 0$fl & 3 )) -ne 0 ] && echo "$p"
	done | sort -u
}

# Centiseconds since boot (busybox date has no %N).
now_cs() {
	local up
	read -r up _ < /proc/uptime
	echo $(( ${up%.*} * 100 + 10#${up#*.} ))
}

# ktap_tee KTAP TIMES: copy run_kselftest.sh's output to the console as it
# comes, keep its KTAP lines (everything but the tests' own output, which
# prefix.pl starts with "# "; the "# selftests:" headers kept) in the file
# KTAP, and time each test from its header to its result line into TIMES
# as "RCT-TIME <test> <seconds>".
ktap_tee() {
	local line start=0 name t
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "$line"
		case $line in
		"# selftests: rconntrack: "*)
			start=$(now_cs)
			printf '%s\n' "$line" >> "$1" ;;
		"#"*) ;;
		*) printf '%s\n' "$line" >> "$1" ;;
		esac
		case $line in
		"ok "*" selftests: rconntrack: "* | "not ok "*" selftests: rconntrack: "*)
			name=${line#* selftests: rconntrack: }
			name=${name%% *}
			t=$(( $(now_cs) - start ))
			printf 'RCT-TIME %s %d.%02d\n' "$name" $((t / 100)) $((t % 100)) >> "$2" ;;
		esac
	done
}

# quiet_replay KSFT_RC: what the verdict counts, printed with the console
# quiet. During the tests the kernel log goes to the console as usual, so
# a report is in the log even if the guest then hangs or panics; but a
# message printed in the middle of a line of the runner breaks that line.
# So the verdict counts none of the live lines: here, with console_loglevel
# 1 (only KERN_EMERG, a panic, still prints), the KTAP lines, the test
# times, the runner's exit code, the unload and kmemleak results, and the
# whole kernel log (for the reports) are printed again, between markers.
# The console stays quiet for init's last markers (RCT-JOB-EXIT, RCT-DONE)
# too: only poweroff comes after them.
quiet_replay() {
	echo 1 > /proc/sys/kernel/printk
	# Let a message being printed finish, and start on a line of our own.
	sleep 1
	echo
	echo "RCT-KTAP-BEGIN"
	cat /tmp/rct-ktap
	echo "RCT-KTAP-END"
	cat /tmp/rct-times
	echo "RCT-KSFT-EXIT $1"
	cat /tmp/rct-status
	echo "RCT-DMESG-BEGIN"
	dmesg
	echo "RCT-DMESG-END"
}

demo() {
	set -x
	insmod $MOD || return 1
	dmesg | grep rconntrack
	ip netns add a
	ip netns add b
	ip link add va netns a type veth peer name vb netns b
	ip -n a addr add 10.0.0.1/24 dev va
	ip -n b addr add 10.0.0.2/24 dev vb
	ip -n a addr add fd00::1/64 dev va nodad
	ip -n b addr add fd00::2/64 dev vb nodad
	for n in a b; do ip -n $n link set lo up; done
	ip -n a link set va up
	ip -n b link set vb up
	ip netns exec a ping -c 2 -W 2 10.0.0.2
	ip netns exec a ping -c 2 -W 2 fd00::2
	ip netns exec b nc -l -p 8080 > /tmp/got &
	sleep 0.5
	echo "hello through rconntrack" | ip netns exec a nc -w 2 10.0.0.2 8080
	wait
	cat /tmp/got
	echo query | ip netns exec a socat -u - UDP4-SENDTO:10.0.0.2:5353,sourceport=4000
	echo answer | ip netns exec b socat -u - UDP4-SENDTO:10.0.0.1:4000,sourceport=5353
	set +x
	echo "--- /proc/net/rconntrack in namespace a"
	ip netns exec a cat /proc/net/rconntrack
	echo "--- /proc/net/stat/rconntrack in namespace a"
	ip netns exec a cat /proc/net/stat/rconntrack
	echo "--- sysctl net.rconntrack"
	for f in /proc/sys/net/rconntrack/*; do
		echo "$(basename "$f") = $(cat "$f")"
	done
	grep -E '^rconntrack ' /proc/slabinfo
}

case $job in
probe)
	echo RCT-PROBE-OK
	;;
check)
	# The exit code: 0 only if the runner, the final unload and the
	# kmemleak check all succeeded (qemu/verdict.sh has the rules).
	cd /kselftest || exit 1
	# Our KUnit suites run when load.sh asks (rct_kunit in selftests/
	# lib.sh), not at each of the suite's ~70 module loads: a run costs
	# seconds under TCG, a minute and more under unload_race.sh's flood.
	# (A kernel without KUnit has no such file; load.sh then fails.)
	kf=/sys/module/kunit/parameters/filter_glob
	[ ! -e $kf ] || printf %s rct-kunit-off > $kf || exit 1
	args=()
	read -r -a asked < /rct/tests
	for t in "${asked[@]}"; do
		args+=(-t "rconntrack:$t")
	done
	: > /tmp/rct-ktap
	: > /tmp/rct-times
	# Results of the last steps go to a file too, printed back quietly.
	: > /tmp/rct-status
	rc=0
	# The runner writes into a FIFO that ktap_tee reads: when the runner
	# has exited, the FIFO's remaining writers are processes the tests
	# left behind with a descriptor of the runner's output (a pipe would
	# keep ktap_tee, and the run, waiting for them).
	rm -f /tmp/rct-out
	mkfifo /tmp/rct-out || exit 1
	ktap_tee /tmp/rct-ktap /tmp/rct-times < /tmp/rct-out &
	tee_pid=$!
	./run_kselftest.sh "${args[@]}" > /tmp/rct-out 2>&1
	ksft=$?
	[ "$ksft" = 0 ] || rc=1
	# One second's grace for a process a test's trap is still ending;
	# those left are reported and killed (TERM, then KILL), or ktap_tee
	# would wait for them.
	left=$(fifo_writers /tmp/rct-out)
	[ -z "$left" ] || { sleep 1; left=$(fifo_writers /tmp/rct-out); }
	for p in $left; do
		echo "RCT-FAIL a test left process $p ($({ tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null)) holding the runner's output" >> /tmp/rct-status
		rc=1
	done
	for sig in TERM KILL KILL; do
		[ -n "$left" ] || break
		# shellcheck disable=SC2086 # one word per process
		kill -$sig $left 2>/dev/null
		sleep 1
		left=$(fifo_writers /tmp/rct-out)
	done
	wait "$tee_pid"
	t0=$(now_cs)
	if [ -d /sys/module/rconntrack ] && ! rmmod rconntrack; then
		echo "RCT-FAIL rmmod rconntrack failed after the tests" >> /tmp/rct-status
		rc=1
	fi
	t1=$(now_cs)
	kmemleak_check >> /tmp/rct-status 2>&1 || rc=1
	t2=$(now_cs)
	# What the run spent after the tests (make check's wall time).
	echo "RCT-STEP rmmod $(( (t1 - t0) / 100 ))s kmemleak $(( (t2 - t1) / 100 ))s" >> /tmp/rct-status
	quiet_replay "$ksft"
	exit $rc
	;;
run)
	demo
	rmmod rconntrack
	kmemleak_check
	;;
shell)
	demo
	echo "Interactive shell: try 'ip netns exec a cat /proc/net/rconntrack'; exit to power off."
	setsid sh -c 'exec bash -i </dev/ttyS0 >/dev/ttyS0 2>&1'
	;;
bench)
	cd /kselftest/rconntrack && ./bench.sh
	;;
bench-smp)
	cd /kselftest/rconntrack && ./bench_smp.sh
	;;
profile)
	# vm.sh ARCH profile [FLOWS]: the flow count travels as the test list.
	flows=$(cat /rct/tests)
	cd /kselftest/rconntrack && FLOWS=${flows:-1} ./profile.sh
	;;
bench-neigh)
	# The neighbour patches' A/B (qemu/bench-neigh.sh boots this on the
	# patched and the unpatched kernel).
	cd /kselftest/rconntrack && ROUNDS=3 ./bench_neigh.sh
	;;
exec)
	# Development aid: vm.sh ARCH exec 'commands...'
	cd /kselftest/rconntrack && bash -c "$(cat /rct/tests)"
	;;
esac
