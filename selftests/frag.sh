#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fragmented traffic is tracked as nf_conntrack tracks it: reassembled
# first (nf_defrag_ipv4/ipv6, enabled in every namespace rconntrack is in).
# A sends B a 3000-byte UDP datagram over a 1500-byte MTU, IPv4 and IPv6:
# A's hooks see it whole before it is fragmented; B's see it whole after
# reassembly. Each side: one entry, new +1, invalid +0, and B's UDP layer
# got it (NoPorts +1: nobody listens). The same with drop_invalid=1: the
# datagram still arrives.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip socat
rct_load
D=/proc/sys/net/rconntrack
old_drop=$(rct_sysctl drop_invalid)
restore() {
	echo "$old_drop" > $D/drop_invalid
	cleanup_all_ns
}
trap restore EXIT
rct_setup_pair || { rct_fail "setup"; rct_exit; }

noports() { # NS FAMILY
	if [ "$2" = 4 ]; then
		rct_snmp "$1" Udp NoPorts
	else
		in_ns "$1" awk '$1 == "Udp6NoPorts" { print $2 }' /proc/net/snmp6
	fi
}
# datagram FAMILY DST SPORT DESC
datagram() {
	local fam=$1 dst=$2 sp=$3 desc=$4 ns np0 got
	local -A n0 i0
	for ns in A B; do
		n0[$ns]=$(rct_stat new "${!ns}") i0[$ns]=$(rct_stat invalid "${!ns}")
	done
	np0=$(noports "$B" "$fam")
	head -c 3000 /dev/zero | ip netns exec "$A" socat -u -b 4000 - "UDP$fam-SENDTO:$dst:7000,sourceport=$sp" ||
		rct_fail "$desc: send"
	busywait 5000 eval '[ $(($(noports "$B" "$fam") - np0)) -ge 1 ]'
	got="new +$(($(rct_stat new "$A") - n0[A]))/+$(($(rct_stat new "$B") - n0[B]))"
	got="$got, invalid +$(($(rct_stat invalid "$A") - i0[A]))/+$(($(rct_stat invalid "$B") - i0[B]))"
	got="$got, B's NoPorts +$(($(noports "$B" "$fam") - np0))"
	got="$got, entries $(rct_entries "$A" | grep -c " sport=$sp dport=7000 ")/$(rct_entries "$B" | grep -c " sport=$sp dport=7000 ")"
	rct_check "$desc: A/B $got (want new +1/+1, invalid +0/+0, B's NoPorts +1, entries 1/1)" \
		[ "$got" = "new +1/+1, invalid +0/+0, B's NoPorts +1, entries 1/1" ]
}

echo 0 > $D/drop_invalid
datagram 4 10.0.0.2 5000 "IPv4 3000 bytes in fragments"
datagram 6 "[fd00::2]" 5001 "IPv6 3000 bytes in fragments"
echo 1 > $D/drop_invalid
datagram 4 10.0.0.2 5002 "IPv4 fragments, drop_invalid=1"
datagram 6 "[fd00::2]" 5003 "IPv6 fragments, drop_invalid=1"
rct_exit
