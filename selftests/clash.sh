#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Two CPUs creating the same connection at once, from both directions: a
# router namespace R forwards between A and C; pktgen in A (one vCPU)
# sends 1000 flows 10.0.1.1:1000..1999 -> 10.0.3.1:2000 while pktgen in C
# (the other vCPU) sends their replies 10.0.3.1:2000 -> 10.0.1.1:1000..1999
# in the same order at the same rate, so R confirms many flows from both
# sides at the same moment. Exactly one entry per flow survives: R holds
# 1000 entries, insert = 1000, new = insert + insert_failed (the losers).
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd nft
cleanup() {
	for n in "${A:-}" "${C:-}"; do
		[ -n "$n" ] && ip netns exec "$n" sh -c 'echo stop > /proc/net/pktgen/pgctrl' 2>/dev/null
	done
	cleanup_all_ns
}
trap cleanup EXIT
rct_load || { rct_fail "insmod"; rct_exit; }
modprobe pktgen 2>/dev/null || [ -d /sys/module/pktgen ] || rct_skip "pktgen unavailable"
setup_ns A R C || { rct_fail "setup"; rct_exit; }
ip link add va netns "$A" address 02:00:00:00:01:01 type veth peer name ra netns "$R" address 02:00:00:00:01:02
ip link add vc netns "$C" address 02:00:00:00:03:01 type veth peer name rc netns "$R" address 02:00:00:00:03:02
ip -n "$A" addr add 10.0.1.1/24 dev va
ip -n "$R" addr add 10.0.1.254/24 dev ra
ip -n "$R" addr add 10.0.3.254/24 dev rc
ip -n "$C" addr add 10.0.3.1/24 dev vc
for l in "$A va" "$R ra" "$R rc" "$C vc"; do ip -n ${l% *} link set ${l#* } up; done
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
ip -n "$R" neigh replace 10.0.1.1 lladdr 02:00:00:00:01:01 dev ra nud permanent
ip -n "$R" neigh replace 10.0.3.1 lladdr 02:00:00:00:03:01 dev rc nud permanent
# The end hosts drop what arrives (no ICMP errors back through R).
for n in "$A" "$C"; do
	ip netns exec "$n" nft 'add table ip f; add chain ip f in { type filter hook input priority 0; policy drop; }'
done
# pktgen in NS, thread T, from DEV: 1000 packets, ports stepping together.
pg() { # NS THREAD DEV DST DSTMAC SPORT_MIN SPORT_MAX DPORT_MIN DPORT_MAX
	rct_pktgen_clear "$1" "$2" || return 1
	ip netns exec "$1" sh -c "
		T=/proc/net/pktgen/kpktgend_$2
		echo 'add_device $3' > \$T || exit 1
		for c in 'count 1000' 'clone_skb 0' 'pkt_size 64' 'dst $4' 'dst_mac $5' \
			'udp_src_min $6' 'udp_src_max $7' 'udp_dst_min $8' 'udp_dst_max $9' 'ratep 500'; do
			echo \"\$c\" > /proc/net/pktgen/$3 || exit 1
		done"
}
# pktgen's sequential ranges exclude their max: ports 1000..1999.
pg "$A" 0 va 10.0.3.1 02:00:00:00:01:02 1000 2000 2000 2000 || rct_skip "pktgen thread 0 unavailable"
pg "$C" 1 vc 10.0.1.1 02:00:00:00:03:02 2000 2000 1000 2000 || rct_skip "pktgen thread 1 unavailable"
ip netns exec "$A" sh -c 'echo "src_min 10.0.1.1" > /proc/net/pktgen/va; echo "src_max 10.0.1.1" > /proc/net/pktgen/va'
ip netns exec "$C" sh -c 'echo "src_min 10.0.3.1" > /proc/net/pktgen/vc; echo "src_max 10.0.3.1" > /proc/net/pktgen/vc'
# Start both at once; each start blocks until its thread has sent 1000.
ip netns exec "$A" sh -c 'echo start > /proc/net/pktgen/pgctrl' &
pa=$!
ip netns exec "$C" sh -c 'echo start > /proc/net/pktgen/pgctrl' &
pc=$!
wait $pa $pc
sent=$(( $(ip netns exec "$A" cat /proc/net/pktgen/va | sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p') +
	$(ip netns exec "$C" cat /proc/net/pktgen/vc | sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p') ))
rct_check "2000 packets sent ($sent)" [ "$sent" = 2000 ]
new=$(rct_stat new "$R") ins=$(rct_stat insert "$R") fail=$(rct_stat insert_failed "$R")
found=$(rct_stat found "$R") inv=$(rct_stat invalid "$R")
rct_log "R: new $new insert $ins insert_failed $fail found $found invalid $inv"
rct_check "one entry per flow in R ($(rct_count "$R"))" [ "$(rct_count "$R")" = 1000 ]
rct_check "1000 inserts ($ins)" [ "$ins" = 1000 ]
rct_check "new $new = insert $ins + insert_failed $fail (each loser counted)" [ "$new" = $((ins + fail)) ]
# Every packet is found at its first hook, or missed there and creates at
# its second (the track hook's note says so; a loser of the race is new and
# insert_failed): found + new = packets.
rct_check "found $found + new $new = 2000 packets" [ $((found + new)) = 2000 ]
rct_check "no packet invalid ($inv)" [ "$inv" = 0 ]
rct_check "1000 distinct flows listed" [ "$(rct_entries "$R" | awk '{print $6, $7, $8, $9}' | sort -u | wc -l)" = 1000 ]
rct_exit
