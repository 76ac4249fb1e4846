#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# NAT on the path: A - R - B (rct_setup_router), R masquerading what leaves
# towards B and forwarding UDP port 8080 of its B-side address to A:80.
#
# R's track hook runs before nf_nat's DNAT and its confirm hook after
# SNAT, so a connection enters with one tuple and leaves with another. Each
# must still be one entry, keyed as nf_conntrack keys it: the original
# tuple as it entered, the reply tuple as the other end answers (what it
# left with, inverted). Checked per flow, line for line, and against R's own
# nf_conntrack (which nft's NAT needs anyway) for the same packets:
#
# 1. SNAT: A:4000 -> B:5000, B answers R's address, A again after 2 s:
#    R: src=A dst=B sport=4000 dport=5000 src=B dst=R sport=5000 dport=4000
#    [ASSURED]; B sees R's address; A sees B's.
# 2. DNAT: B:6000 -> R:8080, forwarded to A:80; A answers:
#    R: src=B dst=R sport=6000 dport=8080 src=A dst=B sport=80 dport=6000.
#
# R: new +2, found +3 (the SNAT reply and second request, the DNAT reply),
# invalid +0, and no other entry.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip socat nft
rct_load
D=/proc/sys/net/rconntrack
old_udp=$(rct_sysctl udp_timeout) old_stream=$(rct_sysctl udp_timeout_stream)
restore() {
	echo "$old_udp" > $D/udp_timeout
	echo "$old_stream" > $D/udp_timeout_stream
	cleanup_all_ns
}
trap restore EXIT
# Nothing expires during the test: the counts are exact.
echo 600 > $D/udp_timeout
echo 600 > $D/udp_timeout_stream

rct_setup_router || { rct_fail "setup"; rct_exit; }
ip netns exec "$R" nft -f - <<-EOF || { rct_fail "nft NAT rules in R"; rct_exit; }
table ip rct_nat {
	chain pre {
		type nat hook prerouting priority -100; policy accept;
		iifname "rb" udp dport 8080 dnat to 10.1.0.1:80
	}
	chain post {
		type nat hook postrouting priority 100; policy accept;
		oifname "rb" masquerade
	}
}
EOF

# R's nf_conntrack keeps the same connections as long (compared below).
ip netns exec "$R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
	net.netfilter.nf_conntrack_udp_timeout_stream=600 ||
	{ rct_fail "nf_conntrack UDP timeouts in R"; rct_exit; }

declare -A c0
for ns in A R B; do
	for c in new found invalid; do c0[$ns-$c]=$(rct_stat $c "${!ns}"); done
done
send() { # NS DST PORT SPORT MSG
	echo "$5" | ip netns exec "$1" socat -u - "UDP4-SENDTO:$2:$3,sourceport=$4" ||
		rct_fail "UDP $5 from $1"
}
# has_line NS REGEX: the namespace has a line matching REGEX.
has_line() {
	rct_entries "$1" | grep -qE "$2"
}

# 1. SNAT.
send "$A" 10.2.0.2 5000 4000 q1
busywait 5000 eval 'rct_entries "$B" | grep -q " sport=4000 dport=5000 "' ||
	rct_fail "SNAT request did not reach B"
send "$B" 10.2.0.254 4000 5000 r1
busywait 5000 eval 'rct_entries "$A" | grep " sport=4000 dport=5000 " | grep -qv UNREPLIED' ||
	rct_fail "SNAT reply did not reach A"
sleep 2.5 # ASSURED: traffic both ways more than 2 s after the first packet
send "$A" 10.2.0.2 5000 4000 q2

# 2. DNAT.
send "$B" 10.2.0.254 8080 6000 p1
busywait 5000 eval 'rct_entries "$A" | grep -q " sport=6000 dport=80 "' ||
	rct_fail "DNAT request did not reach A"
send "$A" 10.2.0.2 6000 80 p2
busywait 5000 eval 'rct_entries "$B" | grep " sport=6000 dport=8080 " | grep -qv UNREPLIED' ||
	rct_fail "DNAT reply did not reach B"

U='^ipv4 +2 udp +17 [0-9]+ '
want() { # NS REGEX DESC
	if busywait 5000 has_line "$1" "$2"; then
		rct_pass "$3"
	else
		rct_fail "$3: want /$2/, got:"
		rct_entries "$1" | sed 's/^/#   /'
	fi
}
want "$R" "${U}src=10\\.1\\.0\\.1 dst=10\\.2\\.0\\.2 sport=4000 dport=5000 src=10\\.2\\.0\\.2 dst=10\\.2\\.0\\.254 sport=5000 dport=4000 \\[ASSURED\\] mark=0 use=1\$" \
	"R, SNAT: original as it entered, reply to R's address, ASSURED"
want "$B" "${U}src=10\\.2\\.0\\.254 dst=10\\.2\\.0\\.2 sport=4000 dport=5000 src=10\\.2\\.0\\.2 dst=10\\.2\\.0\\.254 sport=5000 dport=4000 \\[ASSURED\\] mark=0 use=1\$" \
	"B, SNAT: sees R's address"
want "$A" "${U}src=10\\.1\\.0\\.1 dst=10\\.2\\.0\\.2 sport=4000 dport=5000 src=10\\.2\\.0\\.2 dst=10\\.1\\.0\\.1 sport=5000 dport=4000 \\[ASSURED\\] mark=0 use=1\$" \
	"A, SNAT: sees B's address"
want "$R" "${U}src=10\\.2\\.0\\.2 dst=10\\.2\\.0\\.254 sport=6000 dport=8080 src=10\\.1\\.0\\.1 dst=10\\.2\\.0\\.2 sport=80 dport=6000 mark=0 use=1\$" \
	"R, DNAT: original to R:8080, reply from A:80"
want "$A" "${U}src=10\\.2\\.0\\.2 dst=10\\.1\\.0\\.1 sport=6000 dport=80 src=10\\.1\\.0\\.1 dst=10\\.2\\.0\\.2 sport=80 dport=6000 mark=0 use=1\$" \
	"A, DNAT: sees B and its own port 80"

n=$(rct_entries "$R" | grep -c .)
rct_check "R: exactly the 2 entries (got $n, count $(rct_count "$R"))" [ "$n-$(rct_count "$R")" = 2-2 ]
d="new +$(( $(rct_stat new "$R") - ${c0[R-new]} )), found +$(( $(rct_stat found "$R") - ${c0[R-found]} )), invalid +$(( $(rct_stat invalid "$R") - ${c0[R-invalid]} ))"
rct_check "R: $d (want new +2, found +3, invalid +0)" [ "$d" = "new +2, found +3, invalid +0" ]

# The same connections in R's nf_conntrack: the tuples and flags of its UDP
# lines, in the same order, equal ours.
norm() { # the UDP lines' tuples and [FLAGS], sorted
	grep ' udp ' | tr ' ' '\n' | grep -E '^(src|dst|sport|dport)=|^\[(ASSURED|UNREPLIED)\]$|^ipv4$' |
		tr '\n' ' ' | sed 's/ ipv4 /\nipv4 /g; s/^ *//' | sed 's/ *$//' | sort
}
ours=$(rct_entries "$R" | norm)
theirs=$(ip netns exec "$R" cat /proc/net/nf_conntrack | norm)
if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
	rct_pass "R: same UDP connections as nf_conntrack ($(echo "$ours" | wc -l))"
else
	rct_fail "R differs from nf_conntrack:"
	diff <(echo "$theirs") <(echo "$ours") | sed 's/^/#   /'
fi
rct_exit
