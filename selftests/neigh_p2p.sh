#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Traffic through a point-to-point device must use one neighbour entry
# (key INADDR_ANY / in6addr_any), not one per destination.
#
# Topology: two namespaces joined by a veth pair; over it, in both
# namespaces, p2p tunnels (local and remote set, so IFF_POINTOPOINT):
#   IPv4: ipip, gre
#   IPv6: ip6tnl (ip6ip6), sit (6in4), ip6gre
# A prefix is routed through each tunnel in ns1; ns2 holds the same prefix
# as a "local" route on lo, so it accepts every address in it.  ns1 sends
# one UDP datagram to each of N distinct destinations (bash /dev/udp, no
# fork per packet); ns2 counts them as Udp NoPorts / Udp6NoPorts.
#
# Checks per tunnel: at most one neighbour on the tunnel device
# ("ip neigh show nud all dev X"), every datagram arrived, and no
# "neighbor table overflow" in dmesg.
#
# Control (proves the counting would catch per-destination entries): over
# the veth (Ethernet, not p2p) ns1 sends to NCTL on-link addresses of ns2;
# there must be one resolved (not INCOMPLETE/FAILED) entry per address.
#
# Environment: N4 (IPv4 destinations, default 2000, at most 2046: /21),
# N6 (IPv6 destinations per tunnel, default 300), NCTL (default 20).

source "$(dirname "$0")/lib.sh"

N4=${N4:-2000}
N6=${N6:-300}
NCTL=${NCTL:-20}
PORT=9

# underlay
U4_1=192.168.200.1
U4_2=192.168.200.2
U6_1=2001:db8:200::1
U6_2=2001:db8:200::2
MAC1=02:00:00:c8:00:01
MAC2=02:00:00:c8:00:02

cleanup() {
	cleanup_all_ns
}

# set_sysctl NS PATH VALUE: write VALUE to /proc/sys/PATH inside NS
set_sysctl() {
	in_ns "$1" sh -c "echo $3 > /proc/sys/$2"
}

# send_burst NS 4|6 PREFIX N: one datagram to each of N destinations,
# PREFIX.(i>>8).(i&255) for IPv4, PREFIX<i in hex> for IPv6, i = 1..N.
# Prints how many were sent without error.
send_burst() {
	in_ns "$1" bash -c '
		fam=$1 pfx=$2 n=$3 port=$4 ok=0
		for ((i = 1; i <= n; i++)); do
			if [ "$fam" = 4 ]; then
				a=$pfx.$((i >> 8)).$((i & 255))
			else
				printf -v a "%s%x" "$pfx" "$i"
			fi
			{ echo > "/dev/udp/$a/$port"; } 2>/dev/null && ok=$((ok + 1))
		done
		echo $ok' _ "$2" "$3" "$4" "$PORT"
}

counter_reached() {
	[ "$(udp_noports "$1" "$2")" -ge "$3" ]
}

neigh_count() {
	in_ns "$1" ip -"$2" neigh show nud all dev "$3" | wc -l
}

check_overflow() {
	if rct_dmesg_since | grep -qi "neighbor table overflow"; then
		rct_fail "$1: \"neighbor table overflow\" in dmesg"
		rct_dmesg_since | grep -i "neighbor table overflow" | head -n 3 |
			sed 's/^/#   /'
	else
		rct_pass "$1: no neighbour table overflow"
	fi
}

# p2p_case 4|6 DEV PREFIX N
p2p_case() {
	local fam=$1 dev=$2 pfx=$3 n=$4
	local desc="$dev (IPv$fam, $n destinations)"
	local before after sent cnt

	if ! in_ns "$NS1" ip link show dev "$dev" | grep -q POINTOPOINT; then
		rct_fail "$desc: device is not POINTOPOINT, test is void"
		return
	fi

	rct_dmesg_mark
	before=$(udp_noports "$NS2" "$fam")
	sent=$(send_burst "$NS1" "$fam" "$pfx" "$n")
	wait_for 10000 counter_reached "$NS2" "$fam" $((before + n))
	after=$(udp_noports "$NS2" "$fam")

	cnt=$(neigh_count "$NS1" "$fam" "$dev")
	if [ "$cnt" -le 1 ]; then
		rct_pass "$desc: $cnt neighbour entry on $dev"
	else
		rct_fail "$desc: $cnt neighbour entries on $dev, expected at most 1"
		in_ns "$NS1" ip -"$fam" neigh show nud all dev "$dev" | head -n 3 |
			sed 's/^/#   /'
	fi

	if [ "$sent" -eq "$n" ] && [ $((after - before)) -eq "$n" ]; then
		rct_pass "$desc: $n of $n datagrams arrived"
	else
		rct_fail "$desc: sent $sent of $n, $((after - before)) arrived"
	fi

	check_overflow "$desc"
}

# Neighbour entries of ns1's veth for the control addresses, resolved ones.
ctl_resolved() {
	in_ns "$NS1" ip -6 neigh show nud all dev veth1 |
		grep '^2001:db8:200::c:' |
		grep -c -E 'REACHABLE|STALE|DELAY|PROBE|PERMANENT'
}

ctl_enough() {
	[ "$(ctl_resolved)" -ge "$NCTL" ]
}

control_case() {
	local desc="veth control (IPv6, $NCTL on-link destinations)"
	local i a before after sent total res bad

	for ((i = 1; i <= NCTL; i++)); do
		printf -v a "2001:db8:200::c:%x" "$i"
		ip -n "$NS2" -6 addr add "$a/64" dev veth2 nodad
	done

	before=$(udp_noports "$NS2" 6)
	sent=$(send_burst "$NS1" 6 "2001:db8:200::c:" "$NCTL")
	wait_for 10000 ctl_enough
	wait_for 5000 counter_reached "$NS2" 6 $((before + NCTL))
	after=$(udp_noports "$NS2" 6)

	total=$(neigh_count "$NS1" 6 veth1)
	res=$(ctl_resolved)
	bad=$(in_ns "$NS1" ip -6 neigh show nud all dev veth1 |
	      grep '^2001:db8:200::c:' | grep -c -E 'INCOMPLETE|FAILED')

	if [ "$total" -ge "$NCTL" ] && [ "$res" -eq "$NCTL" ] && [ "$bad" -eq 0 ]; then
		rct_pass "$desc: $res resolved entries ($total on veth1)"
	else
		rct_fail "$desc: $res resolved, $bad unresolved, $total entries on veth1; expected $NCTL resolved"
	fi

	if [ "$sent" -eq "$NCTL" ] && [ $((after - before)) -eq "$NCTL" ]; then
		rct_pass "$desc: $NCTL of $NCTL datagrams arrived"
	else
		rct_fail "$desc: sent $sent of $NCTL, $((after - before)) arrived"
	fi
}

# tunnel_pair NAME KIND LOCAL1 LOCAL2 [ARGS...]: NAME in ns1 (local LOCAL1,
# remote LOCAL2) and in ns2 (mirrored), both up.
tunnel_pair() {
	local name=$1 kind=$2 l1=$3 l2=$4

	shift 4
	ip -n "$NS1" link add "$name" type "$kind" local "$l1" remote "$l2" "$@" &&
	ip -n "$NS2" link add "$name" type "$kind" local "$l2" remote "$l1" "$@" &&
	ip -n "$NS1" link set "$name" up &&
	ip -n "$NS2" link set "$name" up
}

setup() {
	local ns

	setup_ns NS1 NS2 || rct_skip "cannot create network namespaces"

	for ns in "$NS1" "$NS2"; do
		set_sysctl "$ns" net/ipv4/conf/all/rp_filter 0
		set_sysctl "$ns" net/ipv4/conf/default/rp_filter 0
		set_sysctl "$ns" net/ipv6/conf/all/accept_dad 0
		set_sysctl "$ns" net/ipv6/conf/default/accept_dad 0
	done

	ip -n "$NS1" link add veth1 address "$MAC1" type veth \
		peer name veth2 address "$MAC2" netns "$NS2" ||
		rct_skip "veth not supported"
	ip -n "$NS1" link set veth1 up
	ip -n "$NS2" link set veth2 up
	ip -n "$NS1" addr add "$U4_1/24" dev veth1
	ip -n "$NS2" addr add "$U4_2/24" dev veth2
	ip -n "$NS1" -6 addr add "$U6_1/64" dev veth1 nodad
	ip -n "$NS2" -6 addr add "$U6_2/64" dev veth2 nodad
	# Underlay next hops resolved up front: no ARP/NDP queueing (and
	# dropping) while the bursts go out.
	ip -n "$NS1" neigh replace "$U4_2" lladdr "$MAC2" dev veth1 nud permanent
	ip -n "$NS2" neigh replace "$U4_1" lladdr "$MAC1" dev veth2 nud permanent
	ip -n "$NS1" -6 neigh replace "$U6_2" lladdr "$MAC2" dev veth1 nud permanent
	ip -n "$NS2" -6 neigh replace "$U6_1" lladdr "$MAC1" dev veth2 nud permanent

	in_ns "$NS1" bash -c "echo > /dev/udp/$U4_2/$PORT" 2>/dev/null ||
		rct_skip "bash without /dev/udp support"

	tunnel_pair rct_ipip ipip "$U4_1" "$U4_2" || rct_skip "ipip not supported"
	tunnel_pair rct_gre gre "$U4_1" "$U4_2" || rct_skip "gre not supported"
	tunnel_pair rct_ip6tnl ip6tnl "$U6_1" "$U6_2" mode ip6ip6 ||
		rct_skip "ip6tnl not supported"
	tunnel_pair rct_sit sit "$U4_1" "$U4_2" || rct_skip "sit not supported"
	tunnel_pair rct_ip6gre ip6gre "$U6_1" "$U6_2" || rct_skip "ip6gre not supported"

	ip -n "$NS1" addr add 10.9.1.1 peer 10.9.1.2 dev rct_ipip
	ip -n "$NS2" addr add 10.9.1.2 peer 10.9.1.1 dev rct_ipip
	ip -n "$NS1" addr add 10.9.2.1 peer 10.9.2.2 dev rct_gre
	ip -n "$NS2" addr add 10.9.2.2 peer 10.9.2.1 dev rct_gre
	ip -n "$NS1" -6 addr add 2001:db8:61::1/64 dev rct_ip6tnl nodad
	ip -n "$NS2" -6 addr add 2001:db8:61::2/64 dev rct_ip6tnl nodad
	ip -n "$NS1" -6 addr add 2001:db8:62::1/64 dev rct_sit nodad
	ip -n "$NS2" -6 addr add 2001:db8:62::2/64 dev rct_sit nodad
	ip -n "$NS1" -6 addr add 2001:db8:63::1/64 dev rct_ip6gre nodad
	ip -n "$NS2" -6 addr add 2001:db8:63::2/64 dev rct_ip6gre nodad

	# Destinations: routed through the tunnel in ns1, local in ns2.
	ip -n "$NS1" route add 10.201.0.0/21 dev rct_ipip
	ip -n "$NS2" route add local 10.201.0.0/21 dev lo
	ip -n "$NS1" route add 10.202.0.0/21 dev rct_gre
	ip -n "$NS2" route add local 10.202.0.0/21 dev lo
	ip -n "$NS1" -6 route add 2001:db8:a1::/64 dev rct_ip6tnl
	ip -n "$NS2" -6 route add local 2001:db8:a1::/64 dev lo
	ip -n "$NS1" -6 route add 2001:db8:a2::/64 dev rct_sit
	ip -n "$NS2" -6 route add local 2001:db8:a2::/64 dev lo
	ip -n "$NS1" -6 route add 2001:db8:a3::/64 dev rct_ip6gre
	ip -n "$NS2" -6 route add local 2001:db8:a3::/64 dev lo
}

rct_require_root
rct_require_cmd ip awk grep wc dmesg sed

if [ "$N4" -gt 2046 ]; then
	echo "# N4=$N4 does not fit in a /21, using 2046"
	N4=2046
fi

trap cleanup EXIT
setup

p2p_case 4 rct_ipip 10.201 "$N4"
p2p_case 4 rct_gre 10.202 "$N4"
p2p_case 6 rct_ip6tnl 2001:db8:a1:: "$N6"
p2p_case 6 rct_sit 2001:db8:a2:: "$N6"
p2p_case 6 rct_ip6gre 2001:db8:a3:: "$N6"
control_case

rct_exit
