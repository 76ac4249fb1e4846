#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The TCP rules around nf_conntrack's state table (nf_conntrack_tcp_packet()
# in 7.3), each on crafted segments (rct_pkt -r), each with the exact entry
# it must leave:
#
# 1. Loopback is tracked once: a segment over lo passes LOCAL_OUT and
#    POST_ROUTING, then PRE_ROUTING and LOCAL_IN of the same namespace;
#    applied twice, one FIN would move ESTABLISHED -> FIN_WAIT -> LAST_ACK.
#    Want FIN_WAIT after SYN, SYN/ACK, ACK, FIN, and found +3.
# 2. A retransmitted SYN in SYN_SENT does not renew the timeout ("do not
#    renew timeout on SYN retransmit": port reuse would keep an unanswered
#    entry alive forever).
# 3. Mid-stream pickup: an ACK with no entry creates ESTABLISHED, capped to
#    tcp_timeout_unacknowledged (nf_conntrack's TCP_CONNTRACK_UNACK) and not
#    ASSURED until both sides were seen, then ESTABLISHED's timeout.
# 4. A SYN from the reply side on a connection in TIME_WAIT reopens it:
#    the old entry goes and the new one is oriented by the SYN's sender.
# 5. A connection whose only answer is a RST is deleted at once.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nft
rct_require_pkt
D=/proc/sys/net/rconntrack
rct_load
old_close=$(rct_sysctl tcp_timeout_close)
restore() {
	echo "$old_close" > $D/tcp_timeout_close
	cleanup_all_ns
}
trap restore EXIT
# A CLOSE entry left by a RST outlives the checks of step 5.
echo 120 > $D/tcp_timeout_close
rct_setup_pair || { rct_fail "setup"; rct_exit; }
ip -n "$A" link set lo up

CPORT=8200
declare -A n0
# The receivers' TCP stacks answer crafted segments with RSTs (no
# sockets): drop those before rconntrack's LOCAL_OUT hook (-199) sees them.
for ns in "$A" "$B"; do
	rct_drop_rsts "$ns" rct_tcp_rules $CPORT || { rct_fail "nft rules in $ns"; rct_exit; }
done

# seg NS SRC DST SPORT DPORT FLAGS SEQ ACK: one crafted segment.
seg() {
	"$RCT_PKT" -N "$1" -r "$2" "$3" tcp "$4" "$5" "$6" "$7" "$8" ||
		rct_fail "rct_pkt $*"
}
# line NS PORT: the entries with PORT as a port, one per line.
line() {
	rct_entries "$1" | grep -E " (sport|dport)=$2 " | head -n 3
}
# expect NS PORT DESC REGEX: the namespace has exactly one entry with
# PORT, matching REGEX (waits for the receiver's softirq).
expect() {
	local ns=$1 port=$2 desc=$3 re=$4
	if busywait 5000 eval '[ "$(line "$ns" "$port" | wc -l)" = 1 ] && line "$ns" "$port" | grep -qE "$re"'; then
		rct_pass "$desc: $(line "$ns" "$port" | awk '{ print $6, $5 "s" }')"
	else
		rct_fail "$desc: want one line /$re/, got:"
		line "$ns" "$port" | sed 's/^/#   /'
	fi
}
# between N LO HI: LO <= N <= HI.
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
# left NS PORT: seconds left on the entry with PORT.
left() { line "$1" "$2" | awk '{ print $5; exit }'; }
TCP='^ipv4 +2 tcp +6 [0-9]+ '
LO='127\.0\.0\.1'
A4='10\.0\.0\.1'
B4='10\.0\.0\.2'

# 1. Loopback.
rct_drop_rsts "$A" rct_tcp_rules_lo 8300 || rct_fail "nft lo rule"
f0=$(rct_stat found "$A")
seg "$A" 127.0.0.1 127.0.0.1 41000 8300 S 1000 0
seg "$A" 127.0.0.1 127.0.0.1 8300 41000 SA 5000 1001
seg "$A" 127.0.0.1 127.0.0.1 41000 8300 A 1001 5001
expect "$A" 8300 "loopback handshake" \
	"${TCP}ESTABLISHED src=$LO dst=$LO sport=41000 dport=8300 src=$LO dst=$LO sport=8300 dport=41000 \\[ASSURED\\] mark=0 use=1\$"
seg "$A" 127.0.0.1 127.0.0.1 41000 8300 FA 1001 5001
expect "$A" 8300 "loopback: one FIN is one transition" \
	"${TCP}FIN_WAIT src=$LO dst=$LO sport=41000 dport=8300 src=$LO dst=$LO sport=8300 dport=41000 \\[ASSURED\\] mark=0 use=1\$"
f1=$(rct_stat found "$A")
rct_check "loopback: each of the 3 later segments found once (found +$((f1 - f0)))" [ $((f1 - f0)) = 3 ]

# 2. SYN retransmission does not renew the timeout.
tmo=$(rct_sysctl tcp_timeout_syn_sent)
seg "$A" 10.0.0.1 10.0.0.2 41001 $CPORT S 1000 0
expect "$A" 41001 "SYN" "${TCP}SYN_SENT src=$A4 dst=$B4 sport=41001 dport=$CPORT \\[UNREPLIED\\]"
sleep 2.5
seg "$A" 10.0.0.1 10.0.0.2 41001 $CPORT S 1000 0
for ns in A B; do
	l=$(left "${!ns}" 41001)
	rct_check "SYN retransmitted 2.5 s later, $ns: ${l}s left of $tmo, not renewed" \
		[ "${l:-999}" -le $((tmo - 2)) ]
done

# 3. Mid-stream pickup.
unack=$(rct_sysctl tcp_timeout_unacknowledged)
est=$(rct_sysctl tcp_timeout_established)
rct_check "tcp_timeout_unacknowledged is nf_conntrack's 300 ($unack)" [ "$unack" = 300 ]
seg "$A" 10.0.0.1 10.0.0.2 41002 $CPORT A 1000 2000
for ns in A B; do
	expect "${!ns}" 41002 "pickup from an ACK, $ns" \
		"${TCP}ESTABLISHED src=$A4 dst=$B4 sport=41002 dport=$CPORT \\[UNREPLIED\\] src=$B4 dst=$A4 sport=$CPORT dport=41002 mark=0 use=1\$"
	l=$(left "${!ns}" 41002)
	rct_check "pickup, $ns: unacknowledged timeout (${l}s left, want $((unack - 60))..$unack)" \
		between "${l:-0}" $((unack - 60)) "$unack"
done
seg "$B" 10.0.0.2 10.0.0.1 $CPORT 41002 A 2000 1000
seg "$A" 10.0.0.1 10.0.0.2 41002 $CPORT A 1000 2000
for ns in A B; do
	expect "${!ns}" 41002 "pickup answered, $ns" \
		"${TCP}ESTABLISHED src=$A4 dst=$B4 sport=41002 dport=$CPORT src=$B4 dst=$A4 sport=$CPORT dport=41002 \\[ASSURED\\] mark=0 use=1\$"
	l=$(left "${!ns}" 41002)
	rct_check "pickup answered, $ns: established timeout (${l}s left, want $((est - 60))..$est)" \
		between "${l:-0}" $((est - 60)) "$est"
done

# 4. SYN from the reply side in TIME_WAIT: reopened, oriented B -> A.
seg "$A" 10.0.0.1 10.0.0.2 41003 $CPORT S 1000 0
seg "$B" 10.0.0.2 10.0.0.1 $CPORT 41003 SA 5000 1001
seg "$A" 10.0.0.1 10.0.0.2 41003 $CPORT A 1001 5001
seg "$A" 10.0.0.1 10.0.0.2 41003 $CPORT FA 1001 5001
seg "$B" 10.0.0.2 10.0.0.1 $CPORT 41003 FA 5001 1002
seg "$A" 10.0.0.1 10.0.0.2 41003 $CPORT A 1002 5002
for ns in A B; do
	expect "${!ns}" 41003 "closed, $ns" "${TCP}TIME_WAIT src=$A4 dst=$B4 sport=41003 dport=$CPORT "
done
seg "$B" 10.0.0.2 10.0.0.1 $CPORT 41003 S 9000 0
for ns in A B; do
	expect "${!ns}" 41003 "SYN from the reply side in TIME_WAIT reopens, $ns" \
		"${TCP}SYN_SENT src=$B4 dst=$A4 sport=$CPORT dport=41003 \\[UNREPLIED\\] src=$A4 dst=$B4 sport=41003 dport=$CPORT mark=0 use=1\$"
done

# 5. The only answer is a RST (B's stack: no socket on port 8201, and no
# rule drops that RST): no entry left, on both sides, though each created
# one for the SYN.
for ns in A B; do n0[$ns]=$(rct_stat new "${!ns}"); done
seg "$A" 10.0.0.1 10.0.0.2 41004 8201 S 1000 0
for ns in A B; do
	if busywait 5000 eval '[ $(($(rct_stat new "${!ns}") - n0[$ns])) = 1 ] && [ -z "$(line "${!ns}" 41004)" ]'; then
		rct_pass "only answer a RST: entry created, then deleted, $ns"
	else
		rct_fail "only answer a RST, $ns: new +$(($(rct_stat new "${!ns}") - n0[$ns])) (want 1), entry: $(line "${!ns}" 41004)"
	fi
done
rct_exit
