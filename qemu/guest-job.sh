#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (as /rct/job.sh): the job named on the kernel
# command line (rct.job=...).
MOD=/lib/modules/rconntrack/rconntrack.ko
job=$1

kmemleak_check() {
	local f=/sys/kernel/debug/kmemleak
	[ -w $f ] || return 0
	echo scan > $f
	sleep 2
	echo scan > $f
	if [ -s $f ]; then
		echo "RCT-KMEMLEAK reports:"
		head -n 60 $f
	else
		echo "RCT-KMEMLEAK clean"
	fi
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
	cd /kselftest || exit 1
	args=""
	for t in $(cat /rct/tests 2>/dev/null); do
		args="$args -t rconntrack:$t"
	done
	./run_kselftest.sh $args
	[ -d /sys/module/rconntrack ] && rmmod rconntrack
	kmemleak_check
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
exec)
	# Development aid: vm.sh ARCH exec 'commands...'
	cd /kselftest/rconntrack && bash -c "$(cat /rct/tests)"
	;;
esac
