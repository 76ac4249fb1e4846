#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# TCP across a veth pair: the state in /proc/net/rconntrack at each step of
# a handshake, data, FIN close and an RST, on both sides; IPv4 and IPv6.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc
trap cleanup_all_ns EXIT
rct_load
rct_setup_pair || { rct_fail "setup"; exit $ksft_fail; }

expect_state() { # NS PORT STATE DESC
	local ns=$1 port=$2 want=$3
	if busywait 5000 eval '[ "$(rct_tcp_state "$ns" "$port")" = "$want" ]'; then
		rct_pass "$4: $3"
	else
		rct_fail "$4: expected $3, got '$(rct_tcp_state "$1" "$2")'"
		rct_entries "$1" | grep "dport=$2 " | head -n 3 | sed 's/^/#   /'
	fi
}

run_family() { # DST PORT LABEL
	local dst=$1 port=$2 fam=$3
	# Handshake and data: a connection held open by a sleeping writer.
	# The server's stdin stays open (busybox nc closes on stdin EOF).
	{ sleep 6 | ip netns exec "$B" nc -l -p "$port" > /tmp/rct_srv_$port; } > /dev/null 2>&1 &
	local srv=$!
	sleep 0.5
	(echo "hello-$fam"; sleep 3; echo "bye-$fam") | ip netns exec "$A" nc "$dst" "$port" > /dev/null 2>&1 &
	local cli=$!
	expect_state "$A" "$port" ESTABLISHED "$fam client side after handshake"
	expect_state "$B" "$port" ESTABLISHED "$fam server side after handshake"
	if rct_entries "$A" | grep "dport=$port " | grep -q ASSURED; then
		rct_pass "$fam established entry is ASSURED"
	else
		rct_fail "$fam established entry not ASSURED"
	fi
	if rct_entries "$A" | grep "dport=$port " | grep -q UNREPLIED; then
		rct_fail "$fam established entry still UNREPLIED"
	fi
	# Close: the client's FIN, then the server's: TIME_WAIT on the side
	# that closed first, as nf_conntrack shows it.
	wait $cli
	wait $srv 2>/dev/null
	expect_state "$A" "$port" TIME_WAIT "$fam after FIN close"
	if grep -q "bye-$fam" /tmp/rct_srv_$port; then
		rct_pass "$fam data passed through"
	else
		rct_fail "$fam data lost"
	fi
	rm -f /tmp/rct_srv_$port

	# RST: connecting to a closed port.
	local rport=$((port + 1))
	ip netns exec "$A" nc -w 2 "$dst" "$rport" < /dev/null 2>/dev/null
	expect_state "$A" "$rport" CLOSE "$fam connection refused (RST)"
}

run_family 10.0.0.2 8080 ipv4
run_family fd00::2 8090 ipv6

# SYN_SENT: a SYN to an address that never answers (static neighbour).
ip -n "$A" neigh add 10.0.0.3 lladdr 02:00:00:00:00:99 dev va
ip netns exec "$A" nc -w 1 10.0.0.3 7070 < /dev/null > /dev/null 2>&1 &
expect_state "$A" 7070 SYN_SENT "unanswered SYN"
if rct_entries "$A" | grep "dport=7070 " | grep -q UNREPLIED; then
	rct_pass "unanswered SYN is UNREPLIED"
else
	rct_fail "unanswered SYN not marked UNREPLIED"
fi
wait

# The format nf_conntrack scripts parse.
line=$(rct_entries "$A" | grep "dport=8080 " | head -n 1)
if echo "$line" | grep -qE '^ipv4 +2 tcp +6 [0-9]+ TIME_WAIT src=10\.0\.0\.1 dst=10\.0\.0\.2 sport=[0-9]+ dport=8080 src=10\.0\.0\.2 dst=10\.0\.0\.1 sport=8080 dport=[0-9]+ \[ASSURED\] mark=0 use=1$'; then
	rct_pass "/proc line in nf_conntrack format"
else
	rct_fail "unexpected /proc line: $line"
fi
line6=$(rct_entries "$A" | grep "dport=8090 " | head -n 1)
if echo "$line6" | grep -qE '^ipv6 +10 tcp +6 [0-9]+ [A-Z_]+ src=fd00:0000:0000:0000:0000:0000:0000:0001 dst=fd00:0000:0000:0000:0000:0000:0000:0002 '; then
	rct_pass "/proc IPv6 line in nf_conntrack (%pI6) format"
else
	rct_fail "unexpected IPv6 /proc line: $line6"
fi
exit $RCT_RET
