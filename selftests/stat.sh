#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# /proc/net/stat/rconntrack, as /proc/net/stat/nf_conntrack: a header with
# the 11 column names in order, then one line per possible CPU of 11
# 8-digit hex fields, the first (entries) the namespace's count on every
# line. Counters are per namespace: one loopback echo in C moves C's by
# exactly new +1, insert +1, found +1 (the reply at LOCAL_OUT; the
# request's LOCAL_OUT lookup is the miss that creates the entry, and
# packets received on lo were tracked when sent), nothing else, and leaves
# those of A,
# B and the initial namespace as they were.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip ping
rct_load
D=/proc/sys/net/rconntrack
old_icmp=$(rct_sysctl icmp_timeout)
restore() {
	echo "$old_icmp" > $D/icmp_timeout
	cleanup_all_ns
}
trap restore EXIT
# No entry may expire while the counters are compared.
echo 600 > $D/icmp_timeout
rct_setup_pair || { rct_fail "setup"; rct_exit; }
setup_ns C
COLS="entries found new invalid insert insert_failed drop early_drop alloc_failed search_restart chaintoolong"

# ncpus: the possible CPUs (/sys/devices/system/cpu/possible: "0-1,3"...).
ncpus() {
	local n=0 r
	for r in $(tr ',' ' ' < /sys/devices/system/cpu/possible); do
		case $r in
		*-*) n=$((n + ${r#*-} - ${r%-*} + 1)) ;;
		*) n=$((n + 1)) ;;
		esac
	done
	echo $n
}
stat_of() { # NS ("" for the initial one)
	if [ -n "$1" ]; then ip netns exec "$1" cat /proc/net/stat/rconntrack; else cat /proc/net/stat/rconntrack; fi
}
# Some traffic first, so that A's and B's counters are not all zero.
ip netns exec "$A" ping -c 1 -W 2 10.0.0.2 > /dev/null || rct_fail "ping A -> B"

cpus=$(ncpus)
for ns in A B C init; do
	if [ $ns = init ]; then n=""; else n=${!ns}; fi
	st=$(stat_of "$n")
	head=$(echo "$st" | head -n 1)
	rct_check "$ns: header '$head'" [ "$head" = "$COLS" ]
	body=$(echo "$st" | tail -n +2)
	lines=$(echo "$body" | grep -c .)
	bad=$(echo "$body" | grep -cvE '^[0-9a-f]{8}( [0-9a-f]{8}){10}$')
	rct_check "$ns: $lines lines (want $cpus possible CPUs), $bad not 11 fields of 8 hex digits" [ "$lines-$bad" = "$cpus-0" ]
	if [ $ns = init ]; then cnt=$(rct_sysctl count); else cnt=$(rct_count "$n"); fi
	other=$(echo "$body" | awk -v c="$(printf %08x "$cnt")" '$1 != c' | wc -l)
	rct_check "$ns: entries column = count ($cnt) on every line ($other differ)" [ "$other" = 0 ]
done
rct_check "C is idle: all its counters 0" [ "$(stat_of "$C" | tail -n +2 | tr ' ' '\n' | grep -vc '^00000000$')" = 0 ]

sA=$(stat_of "$A") sB=$(stat_of "$B") sI=$(stat_of "")
declare -A c0
for c in $COLS; do c0[$c]=$(rct_stat "$c" "$C"); done
ip netns exec "$C" ping -c 1 -W 2 127.0.0.1 > /dev/null || rct_fail "ping in C"
got="" want=""
for c in $COLS; do
	d=$(( $(rct_stat "$c" "$C") - ${c0[$c]} ))
	case $c in
	new | insert) w=1 ;;
	found) w=1 ;;
	*) w=0 ;;
	esac
	# entries is a level, summed over the CPU lines: the count times CPUs.
	[ $c = entries ] && w=$cpus
	got="$got $c+$d" want="$want $c+$w"
done
rct_check "C's counters after one loopback echo:$got (want$want)" [ "$got" = "$want" ]
rct_check "A's, B's and the initial namespace's counters did not move" \
	[ "$(stat_of "$A")" = "$sA" -a "$(stat_of "$B")" = "$sB" -a "$(stat_of "")" = "$sI" ]
rct_exit
