# SPDX-License-Identifier: GPL-2.0
# Helpers shared by the rconntrack selftests (modelled on
# tools/testing/selftests/net/lib.sh).  Source it from a test.

ksft_pass=0
ksft_fail=1
ksft_xfail=2
ksft_skip=4

# Where the guest image puts the module; override for a manual run.
RCT_MODULE=${RCT_MODULE:-/lib/modules/rconntrack/rconntrack.ko}
RCT_NS_LIST=""
RCT_RET=0

rct_log() { echo "# $*"; }

# check_fail MSG: record a failure and keep going.
rct_fail() { echo "# FAIL: $*"; RCT_RET=$ksft_fail; }
rct_pass() { echo "# ok: $*"; }

# rct_check DESC CMD...: run CMD, pass if it succeeds.
rct_check() {
	local desc=$1; shift
	if "$@"; then rct_pass "$desc"; else rct_fail "$desc"; fi
}

rct_require_root() {
	[ "$(id -u)" = 0 ] || { echo "# SKIP: need root"; exit $ksft_skip; }
}

rct_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || { echo "# SKIP: $c not found"; exit $ksft_skip; }
	done
}

# Milliseconds since boot (busybox date has no %N).
rct_now_ms() {
	local up
	read -r up _ < /proc/uptime
	echo $(( ${up%.*} * 1000 + 10#${up#*.} * 10 ))
}

# busywait TIMEOUT_MS CMD...: retry CMD until it succeeds or time runs out.
busywait() {
	local timeout=$1; shift
	local start
	start=$(rct_now_ms)
	while true; do
		"$@" && return 0
		[ $(( $(rct_now_ms) - start )) -ge "$timeout" ] && return 1
		sleep 0.1
	done
}

# setup_ns VAR...: create namespaces with unique names, store names in VARs.
setup_ns() {
	local v name
	for v in "$@"; do
		name="$v-$$-$RANDOM"
		ip netns add "$name" || return 1
		ip -n "$name" link set lo up
		eval "$v=$name"
		RCT_NS_LIST="$RCT_NS_LIST $name"
	done
}

cleanup_all_ns() {
	local n
	for n in $RCT_NS_LIST; do
		ip netns del "$n" 2>/dev/null
	done
	RCT_NS_LIST=""
}

# Load the module (if not loaded) with optional parameters.
rct_load() {
	if [ -d /sys/module/rconntrack ]; then
		return 0
	fi
	[ -f "$RCT_MODULE" ] || { echo "# SKIP: $RCT_MODULE missing"; exit $ksft_skip; }
	insmod "$RCT_MODULE" "$@"
}

rct_unload() {
	[ -d /sys/module/rconntrack ] || return 0
	rmmod rconntrack
}

# Dmesg marker: rct_dmesg_mark; ...; rct_dmesg_since | grep ...
rct_dmesg_mark() {
	RCT_DMESG_LINES=$(dmesg | wc -l)
}

rct_dmesg_since() {
	dmesg | tail -n +"$((RCT_DMESG_LINES + 1))"
}

# rct_stat NAME [NS]: a counter of /proc/net/stat/rconntrack (hex per CPU,
# as /proc/net/stat/nf_conntrack), summed over CPUs, in decimal.
rct_stat() {
	local name=$1 ns=${2:-} col=0 i=0 sum=0 f line
	local file=/proc/net/stat/rconntrack
	{
		read -r line
		for f in $line; do
			i=$((i + 1))
			[ "$f" = "$name" ] && col=$i
		done
		[ $col -gt 0 ] || return 1
		while read -r line; do
			set -- $line
			eval "f=\${$col}"
			sum=$((sum + 0x$f))
		done
	} < <(if [ -n "$ns" ]; then ip netns exec "$ns" cat $file; else cat $file; fi)
	echo $sum
}

rct_sysctl() {
	cat "/proc/sys/net/rconntrack/$1"
}
