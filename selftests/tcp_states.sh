#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# TCP across a veth pair, on both sides, IPv4 and IPv6:
#
# 1. Crafted segments, one at a time, and the entry after each:
#    SYN -> SYN_SENT [UNREPLIED], SYN/ACK -> SYN_RECV, ACK -> ESTABLISHED
#    [ASSURED], FIN from the original side -> FIN_WAIT, ACK -> CLOSE_WAIT,
#    FIN from the reply side -> LAST_ACK, ACK -> TIME_WAIT (nf_conntrack's
#    tcp_conntracks table); the remaining seconds are those of each
#    state's timeout; one entry per side, new +1, found +6, invalid +0.
#    rct_pkt -r sends them through raw IP sockets, so the sender's
#    LOCAL_OUT/POST_ROUTING and the receiver's PRE_ROUTING/LOCAL_IN hooks
#    see each one: both namespaces track the same connection. The
#    receiver's TCP stack answers every crafted segment with a RST (no
#    socket on these ports): an nft rule drops those RSTs at output
#    priority -300, before rconntrack's LOCAL_OUT hook (-199) sees them.
#    (Dropping the crafted segments at input instead would keep the
#    receiver from creating its entry: that happens at LOCAL_IN priority
#    INT_MAX-1, after any input rule.)
# 2. Real sockets (nc): handshake and data, FIN close, RST, an unanswered
#    SYN; the /proc format.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc nft
rct_require_pkt
trap cleanup_all_ns EXIT
rct_load
rct_setup_pair || { rct_fail "setup"; rct_exit; }

CPORT=8100
for ns in "$A" "$B"; do
	rct_drop_rsts "$ns" rct_tcp_states $CPORT || { rct_fail "nft rules in $ns"; rct_exit; }
done

# crafted_line NS SPORT: the entry of the crafted connection from SPORT.
crafted_line() {
	rct_entries "$1" | grep -E " sport=$2 dport=$CPORT "
}

# crafted_is NS SPORT STATE: the crafted connection's line in NS is in
# STATE; the line in LINE, its seconds left in LEFT.
crafted_is() {
	local want=$3 f
	LINE=$(crafted_line "$1" "$2")
	read -r -a f <<< "$LINE"
	LEFT=${f[4]:-}
	[ "${f[5]:-}" = "$want" ]
}

# step FROM FLAGS SEQ ACK WANT: one crafted segment from FROM (A: the
# original direction, B: the reply), then the exact line in A and in B.
# Uses the caller's fam, a, b, pa, pb (addresses as /proc prints them),
# sp, l3, l3n, replied, assured.
step() {
	local from=$1 flags=$2 seq=$3 ack=$4 want=$5 t0 t1 tmo ns side line left lo re
	local unrep="" asd="" desc="$fam crafted $from $flags -> $want"

	t0=$(rct_now_ms)
	if [ "$from" = A ]; then
		"$RCT_PKT" -N "$A" -r "$a" "$b" tcp "$sp" $CPORT "$flags" "$seq" "$ack"
	else
		"$RCT_PKT" -N "$B" -r "$b" "$a" tcp $CPORT "$sp" "$flags" "$seq" "$ack"
	fi || { rct_fail "$desc: rct_pkt failed"; return; }
	[ "$replied" = 1 ] || unrep='\[UNREPLIED\] '
	[ "$assured" = 1 ] && asd='\[ASSURED\] '
	re="^$l3 +$l3n tcp +6 [0-9]+ $want src=$pa dst=$pb sport=$sp dport=$CPORT ${unrep}src=$pb dst=$pa sport=$CPORT dport=$sp ${asd}mark=0 use=1\$"
	tmo=$(rct_sysctl "tcp_timeout_${want,,}")
	for side in A B; do
		ns=${!side}
		# The receiver handles the segment in softirq, maybe later.
		# One read of the table per try, the rest in bash (each process
		# costs a tenth of a second and more in the KASAN guest).
		busywait 5000 crafted_is "$ns" "$sp" "$want"
		line=$LINE
		t1=$(rct_now_ms)
		left=$LEFT
		# Set when the segment passed (after t0), read before t1.
		lo=$((tmo - (t1 - t0 + 999) / 1000 - 1))
		if [ -n "$line" ] && [[ $line != *$'\n'* ]] && [[ $line =~ $re ]] &&
		   [ "$left" -le "$tmo" ] && [ "$left" -ge "$lo" ]; then
			rct_pass "$desc in $side: ${left}s left of tcp_timeout_${want,,}=$tmo"
		else
			rct_fail "$desc in $side: want one line /$re/ with $lo..$tmo s left, got:"
			echo "$line" | sed 's/^/#   /'
		fi
	done
}

# crafted FAM A_ADDR B_ADDR A_PRINTED B_PRINTED SPORT: the whole sequence.
crafted() {
	local fam=$1 a=$2 b=$3 pa=$4 pb=$5 sp=$6 l3 l3n replied=0 assured=0 ns c dn df di
	local -A before

	if [ "$fam" = ipv4 ]; then l3=ipv4 l3n=2; else l3=ipv6 l3n=10; fi
	for ns in A B; do
		for c in new found invalid; do
			before[$ns-$c]=$(rct_stat $c "${!ns}")
		done
	done
	step A S 1000 0 SYN_SENT
	replied=1
	step B SA 5000 1001 SYN_RECV
	assured=1
	step A A 1001 5001 ESTABLISHED
	step A FA 1001 5001 FIN_WAIT
	step B A 5001 1002 CLOSE_WAIT
	step B FA 5001 1002 LAST_ACK
	step A A 1002 5002 TIME_WAIT
	# Each side: the SYN created the entry, the 6 later segments found it
	# (at LOCAL_OUT where sent, at PRE_ROUTING where received).
	for ns in A B; do
		dn=$(($(rct_stat new "${!ns}") - ${before[$ns-new]}))
		df=$(($(rct_stat found "${!ns}") - ${before[$ns-found]}))
		di=$(($(rct_stat invalid "${!ns}") - ${before[$ns-invalid]}))
		rct_check "$fam crafted, $ns: new +$dn (want 1), found +$df (want 6), invalid +$di (want 0)" \
			[ "$dn-$df-$di" = 1-6-0 ]
	done
}

P6=fd00:0000:0000:0000:0000:0000:0000:000
crafted ipv4 10.0.0.1 10.0.0.2 '10\.0\.0\.1' '10\.0\.0\.2' 40001
crafted ipv6 fd00::1 fd00::2 "${P6}1" "${P6}2" 40002

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
	# Handshake and data: a connection held open until the checks are
	# done, whatever the machine's speed: each side's stdin is a FIFO the
	# test releases (busybox nc closes on stdin EOF).
	local gate=/tmp/rct_gate_$port
	rm -f "$gate.srv" "$gate.cli"
	mkfifo "$gate.srv" "$gate.cli"
	{ cat "$gate.srv" | ip netns exec "$B" nc -l -p "$port" > /tmp/rct_srv_$port; } > /dev/null 2>&1 &
	local srv=$!
	sleep 0.5
	(echo "hello-$fam"; cat "$gate.cli"; echo "bye-$fam") | ip netns exec "$A" nc "$dst" "$port" > /dev/null 2>&1 &
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
	echo > "$gate.cli"
	wait $cli
	echo > "$gate.srv"
	wait $srv 2>/dev/null
	rm -f "$gate.srv" "$gate.cli"
	expect_state "$A" "$port" TIME_WAIT "$fam after FIN close"
	if grep -q "bye-$fam" /tmp/rct_srv_$port; then
		rct_pass "$fam data passed through"
	else
		rct_fail "$fam data lost"
	fi
	rm -f /tmp/rct_srv_$port

	# RST: connecting to a closed port. The only answer is a RST: the
	# entry is deleted at once (nf_conntrack_tcp_packet(): "If only reply
	# is a RST ... delete the conntrack immediately"), on both sides.
	local rport=$((port + 1))
	ip netns exec "$A" nc -w 2 "$dst" "$rport" < /dev/null 2>/dev/null
	local ns
	for ns in "$A" "$B"; do
		if busywait 5000 eval '! rct_entries "$ns" | grep -q "dport=$rport "'; then
			rct_pass "$fam connection refused (RST): no entry"
		else
			rct_fail "$fam connection refused (RST): entry left: $(rct_entries "$ns" | grep "dport=$rport ")"
		fi
	done
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
rct_exit
