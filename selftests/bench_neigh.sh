#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark, not a test: send one UDP datagram to each of N distinct
# destinations routed through a point-to-point ip6tnl (ip6ip6) device and
# through an ipip device, and print per device the neighbour entries left
# on it, the elapsed time and the send rate:
#
#   neigh_bench ip6tnl n=2000 neigh=1 allocs=0 secs=0.052113 rate=38378
#   neigh_bench ipip n=2000 neigh=1 allocs=0 secs=0.047020 rate=42535
#
# (allocs: how many neighbours the ND / ARP table allocated meanwhile)
#
# followed by a "# " line with the datagrams that arrived.  Without the
# IPv6 p2p neighbour patch the ip6tnl line shows about one entry per
# destination (fewer once forced GC starts evicting them).
#
# Environment: N (destinations, default 2000, at most 65535),
# ROUNDS (repetitions per device, default 1; each round uses fresh
# destinations after flushing the device's neighbours).

source "$(dirname "$0")/lib.sh"

N=${N:-2000}
ROUNDS=${ROUNDS:-1}
PORT=9

U4_1=192.168.201.1
U4_2=192.168.201.2
U6_1=2001:db8:201::1
U6_2=2001:db8:201::2
MAC1=02:00:00:c9:00:01
MAC2=02:00:00:c9:00:02

# burst NS 4|6 PREFIX FIRST N: one datagram each to destinations FIRST ..
# FIRST+N-1 (IPv4: PREFIX.(i>>8).(i&255); IPv6: PREFIX<i in hex>), timed
# inside the namespace.  Prints "SENT MICROSECONDS".
burst() {
	in_ns "$1" bash -c '
		now() {
			if [ -n "$EPOCHREALTIME" ]; then
				local t=${EPOCHREALTIME/[.,]/}
				echo $((10#$t))
			else
				echo $(($(date +%s) * 1000000))
			fi
		}
		fam=$1 pfx=$2 first=$3 n=$4 port=$5 ok=0
		last=$((first + n - 1))
		t0=$(now)
		for ((i = first; i <= last; i++)); do
			if [ "$fam" = 4 ]; then
				a=$pfx.$((i >> 8)).$((i & 255))
			else
				printf -v a "%s%x" "$pfx" "$i"
			fi
			{ echo > "/dev/udp/$a/$port"; } 2>/dev/null && ok=$((ok + 1))
		done
		t1=$(now)
		echo "$ok $((t1 - t0))"' _ "$2" "$3" "$4" "$5" "$PORT"
}

# allocs 4|6: the "allocs" counter of the ARP / ND table (all namespaces).
allocs() {
	local t=ndisc_cache

	[ "$1" = 4 ] && t=arp_cache
	ip -s -"$1" ntable show name "$t" |
		awk '{ for (i = 1; i < NF; i++) if ($i == "allocs") { print $(i + 1); exit } }'
}

arrived_enough() {
	[ "$(udp_noports "$NS2" "$1")" -ge "$2" ]
}

# bench NAME DEV 4|6 PREFIX
bench() {
	local name=$1 dev=$2 fam=$3 pfx=$4
	local r first before after res sent us neigh secs rate a0 a1

	for ((r = 0; r < ROUNDS; r++)); do
		first=$((1 + r * N))
		ip -n "$NS1" neigh flush dev "$dev" nud all 2>/dev/null
		before=$(udp_noports "$NS2" "$fam")
		a0=$(allocs "$fam")
		res=$(burst "$NS1" "$fam" "$pfx" "$first" "$N")
		sent=${res% *}
		us=${res#* }
		wait_for 10000 arrived_enough "$fam" $((before + N))
		after=$(udp_noports "$NS2" "$fam")
		a1=$(allocs "$fam")
		neigh=$(in_ns "$NS1" ip -"$fam" neigh show nud all dev "$dev" | wc -l)
		[ "$us" -gt 0 ] || us=1
		secs=$(printf "%d.%06d" $((us / 1000000)) $((us % 1000000)))
		rate=$((sent * 1000000 / us))
		echo "neigh_bench $name n=$N neigh=$neigh allocs=$((a1 - a0)) secs=$secs rate=$rate"
		echo "# $name round $((r + 1)): sent=$sent arrived=$((after - before))"
	done
}

rct_require_root
rct_require_cmd ip awk wc

if [ $((N * ROUNDS)) -gt 65535 ]; then
	echo "# N * ROUNDS must be at most 65535"
	exit 1
fi

trap cleanup_all_ns EXIT
setup_ns NS1 NS2 || rct_skip "cannot create network namespaces"
for ns in "$NS1" "$NS2"; do
	in_ns "$ns" sh -c 'echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter;
			   echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter;
			   echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad'
done

ip -n "$NS1" link add veth1 address "$MAC1" type veth \
	peer name veth2 address "$MAC2" netns "$NS2" || rct_skip "veth not supported"
ip -n "$NS1" link set veth1 up
ip -n "$NS2" link set veth2 up
ip -n "$NS1" addr add "$U4_1/24" dev veth1
ip -n "$NS2" addr add "$U4_2/24" dev veth2
ip -n "$NS1" -6 addr add "$U6_1/64" dev veth1 nodad
ip -n "$NS2" -6 addr add "$U6_2/64" dev veth2 nodad
ip -n "$NS1" neigh replace "$U4_2" lladdr "$MAC2" dev veth1 nud permanent
ip -n "$NS2" neigh replace "$U4_1" lladdr "$MAC1" dev veth2 nud permanent
ip -n "$NS1" -6 neigh replace "$U6_2" lladdr "$MAC2" dev veth1 nud permanent
ip -n "$NS2" -6 neigh replace "$U6_1" lladdr "$MAC1" dev veth2 nud permanent

in_ns "$NS1" bash -c "echo > /dev/udp/$U4_2/$PORT" 2>/dev/null ||
	rct_skip "bash without /dev/udp support"

for ns in "$NS1" "$NS2"; do
	if [ "$ns" = "$NS1" ]; then l4=$U4_1 r4=$U4_2 l6=$U6_1 r6=$U6_2 me=1 peer=2
	else l4=$U4_2 r4=$U4_1 l6=$U6_2 r6=$U6_1 me=2 peer=1
	fi
	ip -n "$ns" link add b_ip6tnl type ip6tnl mode ip6ip6 local "$l6" remote "$r6" ||
		rct_skip "ip6tnl not supported"
	ip -n "$ns" link add b_ipip type ipip local "$l4" remote "$r4" ||
		rct_skip "ipip not supported"
	ip -n "$ns" link set b_ip6tnl up
	ip -n "$ns" link set b_ipip up
	ip -n "$ns" -6 addr add "2001:db8:b6::$me/64" dev b_ip6tnl nodad
	ip -n "$ns" addr add "10.9.9.$me" peer "10.9.9.$peer" dev b_ipip
done

ip -n "$NS1" -6 route add 2001:db8:b1::/64 dev b_ip6tnl
ip -n "$NS2" -6 route add local 2001:db8:b1::/64 dev lo
ip -n "$NS1" route add 10.210.0.0/16 dev b_ipip
ip -n "$NS2" route add local 10.210.0.0/16 dev lo

bench ip6tnl b_ip6tnl 6 2001:db8:b1::
bench ipip b_ipip 4 10.210
