#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# BIG TCP (IPv6): with gso_max_size/gro_max_size above 64 KiB on the veth
# pair, the stack hands netfilter TCP GSO packets larger than an IPv6
# payload length can say, with payload_len 0 (ipv6_payload_len()). They are
# valid packets of the connection, as for nf_conntrack: a 16 MB transfer
# from A to B leaves invalid +0 on both sides and the connection tracked
# through to its close. An nft counter in A's output chain proves packets
# over 64 KiB were sent, so the check can fail.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc nft socat
rct_load
trap cleanup_all_ns EXIT
rct_setup_pair || { rct_fail "setup"; rct_exit; }
for l in "$A va" "$B vb"; do
	ip -n "${l% *}" link set "${l#* }" mtu 65000 gso_max_size 185000 gro_max_size 185000 ||
		rct_skip "gso_max_size above 64 KiB refused (BIG TCP needs Linux 5.19)"
done
# TSO autosizing adds gso_max_size >> (min_rtt_us >> tcp_tso_rtt_log) to
# each burst: with the default log (9) an emulated guest's RTT of a few ms
# keeps bursts under 64 KiB; 15 lets any RTT below 32 ms use the maximum.
# And at least 4 segments of ~64 KB per burst when the window allows, and
# windows that allow it.
ip netns exec "$A" sysctl -qw net.ipv4.tcp_tso_rtt_log=15 net.ipv4.tcp_min_tso_segs=4 \
	net.ipv4.tcp_wmem="4096 1048576 16777216" || rct_fail "A's TCP sysctls"
ip netns exec "$B" sysctl -qw net.ipv4.tcp_rmem="4096 1048576 16777216" || rct_fail "B's TCP sysctls"

ip netns exec "$A" nft -f - <<-EOF || { rct_fail "nft counter in A"; rct_exit; }
table ip6 rct_big {
	counter big { }
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport 9000 meta length > 65535 counter name big
	}
}
EOF

i0a=$(rct_stat invalid "$A") i0b=$(rct_stat invalid "$B")
# The server's stdin is a FIFO held open until the data is in (busybox nc
# closes on stdin EOF).
gate=/tmp/rct_big_gate
rm -f "$gate" /tmp/rct_big_rcv
mkfifo "$gate"
ip netns exec "$B" nc -l -p 9000 < "$gate" > /tmp/rct_big_rcv 2> /dev/null &
srv=$!
exec 7> "$gate"
sleep 0.5
# The sender writes 1 MiB at a time from a file (a pipe gives at most
# 64 KiB a read): each sendmsg() then fills skbs to the GSO size goal, so
# bursts over 64 KiB do not depend on how fast the emulated writer is
# (busybox nc writing a pipe's chunks, they did not in one make check).
head -c 16000000 /dev/zero > /tmp/rct_big_src
ip netns exec "$A" socat -u -b 1048576 OPEN:/tmp/rct_big_src TCP6:[fd00::2]:9000 ||
	rct_fail "transfer over BIG TCP"
rm -f /tmp/rct_big_src
busywait 10000 eval '[ "$(wc -c < /tmp/rct_big_rcv)" = 16000000 ]'
got=$(wc -c < /tmp/rct_big_rcv)
exec 7>&-
wait $srv 2>/dev/null
rm -f "$gate" /tmp/rct_big_rcv
rct_check "16000000 bytes received ($got)" [ "$got" = 16000000 ]
big=$(ip netns exec "$A" nft list counter ip6 rct_big big | sed -n 's/.*packets \([0-9]*\).*/\1/p')
rct_check "GSO packets over 64 KiB sent (${big:-none})" [ "${big:-0}" -gt 0 ]
da=$(( $(rct_stat invalid "$A") - i0a )) db=$(( $(rct_stat invalid "$B") - i0b ))
rct_check "invalid +$da in A, +$db in B (want +0, +0)" [ "$da-$db" = 0-0 ]
for ns in A B; do
	st=$(rct_tcp_state "${!ns}" 9000)
	case $st in
	FIN_WAIT | CLOSE_WAIT | LAST_ACK | TIME_WAIT | CLOSE) rct_pass "$ns: connection tracked to its close ($st)" ;;
	*) rct_fail "$ns: connection state '$st' after the transfer" ;;
	esac
done
rct_exit
