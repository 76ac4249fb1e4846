# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers shared by the rconntrack selftests (modelled on
# tools/testing/selftests/net/lib.sh).  Source it from a test.

# shellcheck disable=SC2034 # the kselftest codes, not all used
ksft_pass=0
ksft_fail=1
# shellcheck disable=SC2034
ksft_xfail=2
ksft_skip=4

# Where the guest image puts the module; override for a manual run.
RCT_MODULE=${RCT_MODULE:-/lib/modules/rconntrack/rconntrack.ko}
RCT_NS_LIST=""
RCT_RET=0
# The packet crafting helper (rct_pkt.c), built beside the tests; its -N
# and -p also serve the reads below (rct_ns_cat).
RCT_PKT=${RCT_PKT:-$(cd "$(dirname "$0")" && pwd)/rct_pkt}

rct_log() { echo "# $*"; }

# A failure recorded in a subshell (a pipeline, $(...)) cannot set
# RCT_RET in the test's shell: it leaves this file, and rct_exit turns it
# into the exit status. $$ is the test's PID in its subshells too.
RCT_FAIL_FLAG=${TMPDIR:-/tmp}/rct-failed.$$
rm -f "$RCT_FAIL_FLAG"

# rct_fail MSG: record a failure and keep going.
rct_fail() { echo "# FAIL: $*"; RCT_RET=$ksft_fail; : > "$RCT_FAIL_FLAG"; }
rct_pass() { echo "# ok: $*"; }

# rct_exit: end the test with ksft_fail if anything failed (here or in a
# subshell), else with RCT_RET.
rct_exit() {
	[ -e "$RCT_FAIL_FLAG" ] && RCT_RET=$ksft_fail
	rm -f "$RCT_FAIL_FLAG"
	exit "$RCT_RET"
}

# rct_check DESC CMD...: run CMD, pass if it succeeds.
rct_check() {
	local desc=$1; shift
	if "$@"; then rct_pass "$desc"; else rct_fail "$desc"; fi
}

# rct_skip_allowed: whether a test may end as SKIP. In our own guests a
# missing tool or feature is a broken setup, so a skip is a failure unless
# the harness wrote 1 to /rct/allow_skip or RCT_ALLOW_SKIP=1 is set.
rct_skip_allowed() {
	local v=

	[ "${RCT_ALLOW_SKIP:-0}" = 1 ] && return 0
	[ -r /rct/allow_skip ] || return 1
	read -r v < /rct/allow_skip
	[ "${v//[[:space:]]/}" = 1 ]
}

# rct_skip MSG: the one way out for a test that cannot run: exits
# ksft_skip where skipping is allowed, ksft_fail everywhere else.
rct_skip() {
	if rct_skip_allowed; then
		echo "# SKIP: $*"
		exit "$ksft_skip"
	fi
	echo "# FAIL: cannot run: $* (a skip counts as a failure; RCT_ALLOW_SKIP=1 or 1 in /rct/allow_skip allows it)"
	exit "$ksft_fail"
}

rct_require_root() {
	[ "$(id -u)" = 0 ] || rct_skip "need root"
}

rct_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || rct_skip "$c not found"
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
# The mark is a unique line written to the kernel log, not a line count:
# the suite wraps the 128 KiB ring (module loads print KUnit results), and
# a count taken before the wrap points into other lines.
rct_dmesg_mark() {
	RCT_DMESG_SEQ=$((${RCT_DMESG_SEQ:-0} + 1))
	RCT_DMESG_MARK="rct-mark-$$-$RANDOM-$RCT_DMESG_SEQ"
	echo "$RCT_DMESG_MARK" > /dev/kmsg || rct_fail "cannot write the dmesg mark to /dev/kmsg"
}

# rct_dmesg_since: the kernel log after the last rct_dmesg_mark. Fails the
# test (and returns 1, printing nothing) when the mark is no longer in the
# ring: whatever was logged after it is partly gone, so no grep of it can
# be trusted.
rct_dmesg_since() {
	local mark=${RCT_DMESG_MARK:-} log

	if [ -z "$mark" ]; then
		rct_fail "rct_dmesg_since without rct_dmesg_mark" >&2
		return 1
	fi
	# The log is read once and the mark looked for before anything is
	# printed: a reader that stops early (grep -q) must not turn a write
	# error (SIGPIPE) into "mark gone".
	log=$(dmesg | awk -v m="$mark" '
		$NF == m { seen = 1; n = 0; next }
		seen { line[++n] = $0 }
		END {
			if (!seen)
				exit 1
			print "seen"
			for (i = 1; i <= n; i++)
				print line[i]
		}')
	if [ "${log%%$'\n'*}" != seen ]; then
		rct_fail "dmesg mark $mark no longer in the kernel log (ring wrapped): the log since it cannot be checked" >&2
		return 1
	fi
	case $log in
	*$'\n'*) printf '%s\n' "${log#*$'\n'}" ;;
	esac
	return 0
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
	} < <(if [ -n "$ns" ]; then rct_ns_cat "$ns" $file; else cat $file; fi)
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

# rct_setup_router: namespaces A - R - B, R routing (ip_forward=1, IPv6
# forwarding) between 10.1.0.0/24, fd01::/64 (A's side: A .1/::1, R
# .254/::fe) and 10.2.0.0/24, fd02::/64 (B's side: B .2/::2, R .254/::fe);
# static neighbours, default routes via R.
rct_setup_router() {
	local l ns dev n a4 a6 mac
	setup_ns A R B || return 1
	MAC_A=02:00:00:01:00:01 MAC_RA=02:00:00:01:00:fe MAC_RB=02:00:00:02:00:fe MAC_B=02:00:00:02:00:02
	ip link add va netns "$A" address $MAC_A type veth peer name ra netns "$R" address $MAC_RA &&
	ip link add vb netns "$B" address $MAC_B type veth peer name rb netns "$R" address $MAC_RB ||
		return 1
	ip -n "$A" addr add 10.1.0.1/24 dev va
	ip -n "$A" addr add fd01::1/64 dev va nodad
	ip -n "$R" addr add 10.1.0.254/24 dev ra
	ip -n "$R" addr add fd01::fe/64 dev ra nodad
	ip -n "$R" addr add 10.2.0.254/24 dev rb
	ip -n "$R" addr add fd02::fe/64 dev rb nodad
	ip -n "$B" addr add 10.2.0.2/24 dev vb
	ip -n "$B" addr add fd02::2/64 dev vb nodad
	for l in "$A va" "$R ra" "$R rb" "$B vb"; do
		read -r ns dev <<< "$l"
		ip -n "$ns" link set "$dev" up
	done
	# Static neighbours: no ARP/ND on the way (a first neighbour solicitation
	# on a fresh link can go unanswered and cost a 1 s retransmit per hop).
	for n in "$A va 10.1.0.254 fd01::fe $MAC_RA" "$R ra 10.1.0.1 fd01::1 $MAC_A" \
		 "$R rb 10.2.0.2 fd02::2 $MAC_B" "$B vb 10.2.0.254 fd02::fe $MAC_RB"; do
		read -r ns dev a4 a6 mac <<< "$n"
		ip -n "$ns" neigh replace "$a4" lladdr "$mac" dev "$dev" nud permanent
		ip -n "$ns" -6 neigh replace "$a6" lladdr "$mac" dev "$dev" nud permanent
	done
	ip -n "$A" route add default via 10.1.0.254
	ip -n "$A" -6 route add default via fd01::fe
	ip -n "$B" route add default via 10.2.0.254
	ip -n "$B" -6 route add default via fd02::fe
	ip netns exec "$R" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'
}

# rct_drop_rsts NS TABLE PORT...: an nft table TABLE in NS that drops TCP
# RSTs to or from each PORT at output priority -300, before rconntrack's
# LOCAL_OUT hook (-199) sees them: the answers a stack with no socket gives
# to crafted segments. Only the stack's own (TTL or hop limit 64): rct_pkt
# -r sends with 63, so crafted RSTs pass.
rct_drop_rsts() {
	local ns=$1 table=$2 p rules=""
	shift 2
	for p in "$@"; do
		rules="$rules
		ip ttl 64 tcp sport $p tcp flags & rst == rst drop
		ip ttl 64 tcp dport $p tcp flags & rst == rst drop
		ip6 hoplimit 64 tcp sport $p tcp flags & rst == rst drop
		ip6 hoplimit 64 tcp dport $p tcp flags & rst == rst drop"
	done
	ip netns exec "$ns" nft -f - <<-EOF
	table inet $table {
		chain out {
			type filter hook output priority -300; policy accept;$rules
		}
	}
	EOF
}

# rct_ns_cat NS FILE...: FILEs as read in namespace NS (/proc/net and
# /proc/sys/net files are per namespace). rct_pkt -N joins the namespace
# by setns() alone: `ip netns exec` also unshares the mount namespace and
# remounts /sys, six times the cost in the KASAN guest (0.29 s a call
# against 0.05 s), and the tests read the tables thousands of times.
rct_ns_cat() {
	local ns=$1

	shift
	if [ -x "$RCT_PKT" ]; then
		"$RCT_PKT" -N "$ns" -p "$@"
	else
		ip netns exec "$ns" cat "$@"
	fi
}

# rct_entries NS: the namespace's /proc/net/rconntrack.
rct_entries() {
	rct_ns_cat "$1" /proc/net/rconntrack
}

# rct_count NS: the namespace's entry count.
rct_count() {
	rct_ns_cat "$1" /proc/sys/net/rconntrack/count
}

# rct_tcp_state NS PORT: TCP state of the entry with dport=PORT (original).
rct_tcp_state() {
	rct_entries "$1" | awk -v p="dport=$2" '$3 == "tcp" { for (i = 1; i <= NF; i++) if ($i == p) { print $6; exit } }'
}

# rct_pktgen_clear NS T: remove every device of pktgen thread kpktgend_T
# in NS, and wait until the thread has. "rem_device_all" only sets a flag
# that the thread acts on later (pktgen.c sleeps 125 ms and hopes): a
# device added before it does is removed with the others. (Sixth session,
# x86_64 make check on a loaded host: unload_race.sh's devices vanished,
# no packet was sent, all five cycles failed.)
rct_pktgen_clear() {
	local ns=$1 t=$2 f=/proc/net/pktgen/kpktgend_$2

	ip netns exec "$ns" test -e "$f" || return 1
	ip netns exec "$ns" sh -c "echo rem_device_all > $f" || return 1
	busywait 10000 rct_pktgen_idle "$ns" "$t"
}

# rct_pktgen_idle NS T: pktgen thread kpktgend_T in NS has no device
# ("Running: DEV ...", "Stopped: DEV ...": both empty).
rct_pktgen_idle() {
	[ -z "$(rct_ns_cat "$1" "/proc/net/pktgen/kpktgend_$2" |
		awk '/^(Running|Stopped):/ { $1 = ""; printf "%s", $0 }' | tr -d ' ')" ]
}

# rct_pktgen_start NS DEV DST DSTMAC [RATE_PPS] [SRC_RANGE...]: floods new
# UDP flows (random source ports and addresses) from DEV in NS until
# rct_pktgen_stop. One pktgen thread per SRC_RANGE (kpktgend_0, _1...: one
# per CPU), each with its own range and RATE_PPS; default one thread,
# 10.0.1.1-10.0.1.254. Source ports: RCT_PKTGEN_SPORTS (default
# 1024-65000). Returns non-zero if pktgen (or a thread) is unavailable.
rct_pktgen_start() {
	local ns=$1 dev=$2 dst=$3 mac=$4 rate=${5:-20000} sports=${RCT_PKTGEN_SPORTS:-1024-65000}
	local ranges t pdev srcs

	shift 4
	[ $# -gt 0 ] && shift
	ranges=("$@")
	[ ${#ranges[@]} -gt 0 ] || ranges=(10.0.1.1-10.0.1.254)
	modprobe pktgen 2>/dev/null || [ -d /sys/module/pktgen ] || return 1
	ip netns exec "$ns" test -d /proc/net/pktgen || return 1
	RCT_PKTGEN_DEVS=
	for t in "${!ranges[@]}"; do
		srcs=${ranges[$t]}
		# A device can be on one thread only: DEV@N is another pktgen
		# device on the same interface.
		pdev=$dev
		[ "$t" -gt 0 ] && pdev=$dev@$t
		rct_pktgen_clear "$ns" "$t" || return 1
		ip netns exec "$ns" sh -c "
			T=/proc/net/pktgen/kpktgend_$t
			echo 'add_device $pdev' > \$T
			for c in 'count 0' 'clone_skb 0' 'pkt_size 64' 'dst $dst' 'dst_mac $mac' \
				'src_min ${srcs%-*}' 'src_max ${srcs#*-}' 'udp_src_min ${sports%-*}' \
				'udp_src_max ${sports#*-}' 'udp_dst_min 9' 'udp_dst_max 9' \
				'flag UDPSRC_RND' 'flag IPSRC_RND' 'ratep $rate'; do
				echo \"\$c\" > '/proc/net/pktgen/$pdev' || exit 1
			done" || return 1
		RCT_PKTGEN_DEVS="$RCT_PKTGEN_DEVS $pdev"
	done
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

# rct_pktgen_sent NS DEV: packets pktgen sent from DEV (all its threads).
rct_pktgen_sent() {
	local d n sum=0

	for d in ${RCT_PKTGEN_DEVS:-$2}; do
		n=$(rct_ns_cat "$1" "/proc/net/pktgen/$d" | sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p')
		sum=$((sum + ${n:-0}))
	done
	echo "$sum"
}

# rct_tcp_open SRV_NS DST PORT CLI_NS SECONDS FILE: a TCP connection from
# CLI_NS to DST:PORT in SRV_NS, held open for SECONDS; what the caller
# writes to fd 5 arrives in FILE. The background processes outlive the
# test, so they keep no descriptor of its output: not 1 and 2, and not the
# runner's 3 and 4 either (kselftest's runner.sh hands them to every test;
# a process holding one kept the run waiting until SECONDS were over:
# 600 s of each make check, guest idle).
rct_tcp_open() {
	local srv=$1 dst=$2 port=$3 cli=$4 secs=$5 file=$6
	: > "$file"
	{ sleep "$secs" | ip netns exec "$srv" nc -l -p "$port" > "$file"; } \
		> /dev/null 2>&1 < /dev/null 3>&- 4>&- &
	sleep 0.5
	exec 5> >(exec > /dev/null 2>&1 3>&- 4>&-; exec ip netns exec "$cli" nc "$dst" "$port")
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
		rct_ns_cat "$1" /proc/net/snmp | awk '/^Udp:/ {
			if (!col) {
				for (i = 1; i <= NF; i++)
					if ($i == "NoPorts")
						col = i
			} else {
				print $col
				exit
			}
		}'
	else
		rct_ns_cat "$1" /proc/net/snmp6 | awk '$1 == "Udp6NoPorts" { print $2 }'
	fi
}

# rct_snmp NS PROTO FIELD: a counter of the namespace's /proc/net/snmp
# (Ip, Icmp, Tcp, Udp...), 0 if absent.
rct_snmp() {
	local v
	v=$(rct_ns_cat "$1" /proc/net/snmp | awk -v p="$2:" -v f="$3" '
		$1 == p {
			if (!c) {
				for (i = 2; i <= NF; i++)
					if ($i == f)
						c = i
				next
			}
			print $c
			exit
		}')
	echo "${v:-0}"
}

# rct_total: entries in the table, all namespaces together (in tests with
# no IPv6 NAT, whose entries are larger: memory_bytes counts them so).
rct_total() {
	echo $(( $(rct_sysctl memory_bytes) / $(rct_sysctl entry_size) ))
}

# rct_untimed: stdin's /proc/net/rconntrack lines without the remaining
# seconds (column 5), to compare an entry before and after.
rct_untimed() {
	awk '{ $5 = ""; print }'
}

# rct_require_pkt: sets RCT_PKT to the packet crafting helper (rct_pkt.c).
rct_require_pkt() {
	[ -x "$RCT_PKT" ] || rct_skip "$RCT_PKT missing (build rct_pkt.c)"
}

# rct_lowmem_kib: lowmem in KiB as the kernel counts it (totalram minus
# totalhigh): LowTotal where there is highmem, else MemTotal.
rct_lowmem_kib() {
	awk '/^LowTotal:/ { l = $2 } /^MemTotal:/ { m = $2 } END { print (l != "" ? l : m) }' /proc/meminfo
}

# rct_kconfig SYMBOL: whether the running kernel has CONFIG_SYMBOL=y
# (/proc/config.gz, CONFIG_IKCONFIG_PROC=y in our kernels; a missing file
# fails the test).
rct_kconfig() {
	if [ ! -r /proc/config.gz ]; then
		rct_fail "/proc/config.gz missing (the test kernels have CONFIG_IKCONFIG_PROC=y)" >&2
		return 2
	fi
	zcat /proc/config.gz | grep -qx "CONFIG_$1=y"
}

# rct_nft_counters NS TABLE: the sum of the packet counters of nft table
# TABLE (family inet) in NS, 0 if none; e.g. nf_conntrack's invalid count
# where every rule is "ct state invalid counter".
rct_nft_counters() {
	ip netns exec "$1" nft list table inet "$2" |
		awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# rct_kunit GLOB: the KUnit suites that run at the next module loads
# (kunit.filter_glob, e.g. 'rconntrack*'). The guest job turns them off
# for the whole suite; load.sh turns ours on for its first load. Prints
# the previous value (to restore).
rct_kunit() {
	local f=/sys/module/kunit/parameters/filter_glob
	cat "$f"
	printf %s "$1" > "$f"
}
