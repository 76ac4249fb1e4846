#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Resize the table 20 times while traffic runs, and account for every
# packet and entry:
#
# - a flood from both CPUs (two pktgen threads, disjoint source addresses,
#   a bounded tuple space so that most packets repeat a known tuple and
#   must be found, and the table never fills);
# - two long-lived flows with fixed tuples, established before the
#   resizes, passing packets through all of them: a TCP connection and a
#   UDP flow (replied, ASSURED).
#
# Afterwards, in A and in B: invalid +0, insert_failed +0 (a lookup that
# missed an existing entry would make its packet a new flow whose insert
# clashes, or an invalid one when it cannot open a flow), drop and
# early_drop +0, entries added = new (nothing expires: 600 s timeouts),
# count = listed lines, found grew by at least the packets the two flows
# sent (every one of them is looked up and must be found), the two flows'
# entries are still there, one each, with the same tuple and state, and
# the TCP data made it through. search_restart may grow (reported).
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc socat
rct_load
D=/proc/sys/net/rconntrack
old_b=$(cat $D/buckets) old_t=$(cat $D/udp_timeout) old_s=$(cat $D/udp_timeout_stream) old_m=$(cat $D/max)
trap '' PIPE
cleanup() {
	rct_pktgen_stop
	exec 5>&- 6>&- 7>&-
	kill %1 2>/dev/null
	echo "$old_b" > $D/buckets
	echo "$old_t" > $D/udp_timeout
	echo "$old_s" > $D/udp_timeout_stream
	echo "$old_m" > $D/max
	cleanup_all_ns
	rm -f /tmp/rct_rs_srv
}
trap cleanup EXIT
rct_setup_pair || { rct_fail "setup"; rct_exit; }
ip -n "$B" route add 10.0.1.0/24 dev vb
# No expiry during the test: count and listing must agree exactly.
echo 600 > $D/udp_timeout
echo 600 > $D/udp_timeout_stream
# The flood's tuple space: per thread 32 addresses x 128 ports = 4096
# flows, 8192 for two; max above it (and the long-lived flows) so that no
# early drop or drop muddles the accounting.
echo 10000 > $D/max || rct_fail "max=10000"
RCT_PKTGEN_SPORTS=1024-1151
RANGES=(10.0.1.1-10.0.1.32)
if [ "$(nproc)" -ge 2 ]; then
	RANGES+=(10.0.1.33-10.0.1.64)
else
	rct_log "one CPU: flooding from one pktgen thread"
fi

# The long-lived flows: TCP A -> B:8080 (fd 5), UDP A:4242 <-> B:5353
# (fd 6 sends from A, fd 7 from B; both sockets bound, so no ICMP error).
rct_tcp_open "$B" 10.0.0.2 8080 "$A" 600 /tmp/rct_rs_srv
echo start >&5
busywait 5000 grep -q start /tmp/rct_rs_srv || rct_fail "TCP connection"
exec 6> >(ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:5353,sourceport=4242 > /dev/null 2>&1)
exec 7> >(ip netns exec "$B" socat -u - UDP4-SENDTO:10.0.0.1:4242,sourceport=5353 > /dev/null 2>&1)
sleep 0.5
UDP=' sport=4242 dport=5353 '
echo q1 >&6
busywait 5000 eval 'rct_entries "$B" | grep -q "$UDP"' || rct_fail "UDP request did not reach B"
echo r1 >&7
busywait 5000 eval 'rct_entries "$A" | grep "$UDP" | grep -qv UNREPLIED' || rct_fail "UDP reply did not reach A"
sleep 2.5 # ASSURED: traffic both ways more than 2 s after the first packet
echo q2 >&6
assured() { rct_entries "$1" | grep "$UDP" | grep -q ASSURED; }
if ! busywait 5000 assured "$B" || ! assured "$A"; then
	rct_fail "UDP flow not ASSURED"
fi
busywait 5000 eval '[ "$(rct_tcp_state "$B" 8080)" = ESTABLISHED ]' || rct_fail "TCP not ESTABLISHED"

# flow_pkts NS: UDP and TCP packets the namespace sent or received (only
# the two long-lived flows use UDP or TCP; the flood has no socket to reach
# and only makes ICMP errors).
flow_pkts() {
	local n=0 f
	for f in "Udp OutDatagrams" "Udp InDatagrams" "Udp InErrors" "Tcp OutSegs" "Tcp InSegs"; do
		# shellcheck disable=SC2086 # PROTO FIELD
		n=$((n + $(rct_snmp "$1" $f)))
	done
	echo $n
}
# flows NS: the two long-lived flows' lines without their timeouts.
flows() {
	rct_entries "$1" | grep -E " dport=8080 |$UDP" | rct_untimed | sort
}
declare -A c0
counters="found new invalid insert insert_failed drop early_drop search_restart"
snapshot() { # PREFIX
	local ns c
	for ns in A B; do
		for c in $counters; do
			eval "$1[$ns-$c]=\$(rct_stat $c \"\${!ns}\")"
		done
		eval "$1[$ns-count]=\$(rct_count \"\${!ns}\")"
		# Packets of the two flows that this side sent or received.
		eval "$1[$ns-pkts]=\$(flow_pkts \"\${!ns}\")"
	done
}
fA0=$(flows "$A") fB0=$(flows "$B")
rct_check "A and B: 2 long-lived entries each" [ "$(echo "$fA0" | grep -c .)-$(echo "$fB0" | grep -c .)" = 2-2 ]
snapshot c0

if ! rct_pktgen_start "$A" va 10.0.0.2 02:00:00:00:00:02 5000 "${RANGES[@]}"; then
	rct_skip "pktgen unavailable"
fi
ok=1
i=0
for b in 1024 4096 2048 8192 1031 16384 3000 1024 65536 5000 \
	 1024 4096 2048 8192 1031 16384 3000 1024 65536 4096; do
	i=$((i + 1))
	if ! echo $b > $D/buckets; then
		rct_fail "resize #$i to $b refused"
		ok=0
	elif [ "$(cat $D/buckets)" != $b ]; then
		rct_fail "resize #$i: buckets reads $(cat $D/buckets), not $b"
		ok=0
	fi
	echo "data-$i" >&5
	echo "q-$i" >&6
	echo "r-$i" >&7
	sleep 0.2
done
sent=$(rct_pktgen_sent "$A" va)
rct_pktgen_stop
[ $ok = 1 ] && rct_pass "20 resizes under flood ($sent packets from ${#RANGES[@]} pktgen threads)"
# Let the last packets land.
sleep 1
declare -A c1
snapshot c1
for ns in A B; do
	d() { echo $(( ${c1[$ns-$1]} - ${c0[$ns-$1]} )); }
	n=${c1[$ns-count]}
	lines=$(rct_entries "${!ns}" | wc -l)
	rct_check "$ns: no entry lost: count $n = listed $lines" [ "$n" = "$lines" ]
	rct_check "$ns: entries added $(d count) = new $(d new) = insert $(d insert)" \
		[ "$(d count)-$(d new)" = "$(d new)-$(d insert)" ]
	rct_check "$ns: no missed lookup: invalid +$(d invalid), insert_failed +$(d insert_failed) (want 0, 0)" \
		[ "$(d invalid)-$(d insert_failed)" = 0-0 ]
	rct_check "$ns: table never full: drop +$(d drop), early_drop +$(d early_drop) (want 0, 0)" \
		[ "$(d drop)-$(d early_drop)" = 0-0 ]
	# Each packet this side sent (LOCAL_OUT) or received (PRE_ROUTING)
	# on the two flows was looked up and must have been found.
	rct_check "$ns: found +$(d found) >= $(d pkts) packets of the long-lived flows sent or received" \
		[ "$(d found)" -ge "$(d pkts)" ]
	rct_log "$ns: search_restart +$(d search_restart), new +$(d new)"
done
rct_check "B: the flood created entries ($(( c1[B-new] - c0[B-new] )))" [ "$(( c1[B-new] - c0[B-new] ))" -gt 100 ]
fA1=$(flows "$A") fB1=$(flows "$B")
if [ "$fA1" = "$fA0" ] && [ "$fB1" = "$fB0" ]; then
	rct_pass "long-lived TCP and UDP entries unchanged in A and B (one each, same tuple and state)"
else
	rct_fail "long-lived entries changed:"
	diff <(echo "$fA0"; echo "$fB0") <(echo "$fA1"; echo "$fB1") | sed 's/^/#   /'
fi
echo "data-end" >&5
if busywait 5000 grep -q data-end /tmp/rct_rs_srv && grep -q data-20 /tmp/rct_rs_srv; then
	rct_pass "established connection passed data through every resize"
else
	rct_fail "TCP data lost during resizes"
fi
rct_exit
