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
# CMD is re-run each time: pass a function or `eval '...'`, not a `[`
# whose $(...) arguments were expanded once by the caller.
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
	# A missing module is a broken installation, not a missing feature.
	[ -f "$RCT_MODULE" ] || { echo "# FAIL: $RCT_MODULE missing"; exit $ksft_fail; }
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

# rct_setup_pair: namespaces $A and $B joined by veth va/vb, with
# 10.0.0.1/24 + fd00::1/64 in A and 10.0.0.2/24 + fd00::2/64 in B.
rct_setup_pair() {
	setup_ns A B || return 1
	ip link add va netns "$A" address 02:00:00:00:00:01 type veth \
		peer name vb netns "$B" address 02:00:00:00:00:02 || return 1
	ip -n "$A" addr add 10.0.0.1/24 dev va
	ip -n "$B" addr add 10.0.0.2/24 dev vb
	ip -n "$A" addr add fd00::1/64 dev va nodad
	ip -n "$B" addr add fd00::2/64 dev vb nodad
	ip -n "$A" link set va up
	ip -n "$B" link set vb up
}

# rct_entries NS: the namespace's /proc/net/rconntrack.
rct_entries() {
	ip netns exec "$1" cat /proc/net/rconntrack
}

# rct_count NS: the namespace's entry count.
rct_count() {
	ip netns exec "$1" cat /proc/sys/net/rconntrack/count
}

# rct_tcp_state NS PORT: TCP state of the entry with dport=PORT (original).
rct_tcp_state() {
	rct_entries "$1" | awk -v p="dport=$2" '$3 == "tcp" { for (i = 1; i <= NF; i++) if ($i == p) { print $6; exit } }'
}

# rct_pktgen_start NS DEV DST DSTMAC [RATE_PPS] [SRC_RANGE]: floods new UDP
# flows (random source ports and addresses) from DEV in NS until
# rct_pktgen_stop. Returns non-zero if pktgen is unavailable.
rct_pktgen_start() {
	local ns=$1 dev=$2 dst=$3 mac=$4 rate=${5:-20000} srcs=${6:-10.0.1.1-10.0.1.254}
	modprobe pktgen 2>/dev/null || [ -d /sys/module/pktgen ] || return 1
	ip netns exec "$ns" test -d /proc/net/pktgen || return 1
	ip netns exec "$ns" sh -c "
		echo rem_device_all > /proc/net/pktgen/kpktgend_0
		echo 'add_device $dev' > /proc/net/pktgen/kpktgend_0
		for c in 'count 0' 'clone_skb 0' 'pkt_size 64' 'dst $dst' 'dst_mac $mac' \
			'src_min ${srcs%-*}' 'src_max ${srcs#*-}' 'udp_src_min 1024' \
			'udp_src_max 65000' 'udp_dst_min 9' 'udp_dst_max 9' \
			'flag UDPSRC_RND' 'flag IPSRC_RND' 'ratep $rate'; do
			echo \"\$c\" > /proc/net/pktgen/$dev || exit 1
		done" || return 1
	ip netns exec "$ns" sh -c 'echo start > /proc/net/pktgen/pgctrl' > /dev/null 2>&1 &
	RCT_PKTGEN_PID=$!
	RCT_PKTGEN_NS=$ns
	sleep 0.5
}

rct_pktgen_stop() {
	[ -n "${RCT_PKTGEN_NS:-}" ] || return 0
	ip netns exec "$RCT_PKTGEN_NS" sh -c 'echo stop > /proc/net/pktgen/pgctrl'
	wait "$RCT_PKTGEN_PID" 2>/dev/null
	RCT_PKTGEN_NS=
}

# rct_pktgen_sent NS DEV: packets pktgen sent from DEV.
rct_pktgen_sent() {
	ip netns exec "$1" cat "/proc/net/pktgen/$2" | sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p'
}

# rct_tcp_open SRV_NS DST PORT CLI_NS SECONDS FILE: a TCP connection from
# CLI_NS to DST:PORT in SRV_NS, held open for SECONDS; what the caller
# writes to fd 5 arrives in FILE. Background processes keep no descriptor
# of the caller's output, so the kselftest runner does not wait for them.
rct_tcp_open() {
	local srv=$1 dst=$2 port=$3 cli=$4 secs=$5 file=$6
	: > "$file"
	{ sleep "$secs" | ip netns exec "$srv" nc -l -p "$port" > "$file"; } > /dev/null 2>&1 < /dev/null &
	sleep 0.5
	exec 5> >(ip netns exec "$cli" nc "$dst" "$port" > /dev/null 2>&1)
}

# in_ns NS CMD...: run CMD in namespace NS.
in_ns() {
	local ns=$1

	shift
	ip netns exec "$ns" "$@"
}

# wait_for TIMEOUT_MS CMD...: busywait under the name the neighbour tests use.
wait_for() {
	busywait "$@"
}

# udp_noports NS 4|6: UDP datagrams that reached no socket in NS
udp_noports() {
	if [ "$2" = 4 ]; then
		in_ns "$1" awk '/^Udp:/ {
			if (!col) {
				for (i = 1; i <= NF; i++)
					if ($i == "NoPorts")
						col = i
			} else {
				print $col
				exit
			}
		}' /proc/net/snmp
	else
		in_ns "$1" awk '$1 == "Udp6NoPorts" { print $2 }' /proc/net/snmp6
	fi
}
