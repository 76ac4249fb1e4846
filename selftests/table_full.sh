#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Table full, set both ways:
#
# max holds each namespace, as nf_conntrack_max holds each namespace's
# count:
#
# 1. The module parameter: insmod max=100 buckets=1024 (the load line and
#    the sysctls show them), then 1000 new flows: A and B each never hold
#    more than 100, every flow is tracked or dropped (new + drop +
#    alloc_failed = 1000 in A), entries added = new - early_drop -
#    insert_failed, early drop evicted some (early_drop > 0: with 100
#    entries in 1024 buckets, most 8-bucket windows hold one) and the rest
#    were dropped (drop > 0) with the log line; an established connection
#    keeps passing.
# 2. The sysctl: a reload with defaults, then buckets=1024 and max=100
#    written to the sysctls and 300 new flows: the same accounting.
# 3. While A and B are full, namespace C opens 50 flows of its own: each
#    gets an entry (new +50, drop +0, early_drop +0), and A and B keep
#    theirs: a namespace flooding new flows costs the others nothing.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc
D=/proc/sys/net/rconntrack
trap '' PIPE
restore() {
	exec 5>&-
	kill %1 2>/dev/null
	cleanup_all_ns
	rm -f /tmp/rct_full_srv
	# The parameters or sysctls of this test go with the module.
	rct_unload
}
trap restore EXIT
rct_setup_pair || { rct_fail "setup"; rct_exit; }

# Counters of A (where the flows start) and B (where they arrive), each
# held to max.
s() { rct_stat "$1" "$A"; }
sb() { rct_stat "$1" "$B"; }
all() { echo $(( $(s new) + $(sb new) - $(s early_drop) - $(sb early_drop) - $(s insert_failed) - $(sb insert_failed) )); }

# flood LABEL N BASE [LOG]: N flows from A, one datagram each from a new
# socket (bash /dev/udp) to ports BASE+1..BASE+N of B, sampling the global
# namespace's entry count every 50 flows; checks the accounting, and with LOG=1 the log
# line (net_ratelimit: 10 lines per 5 s for the whole kernel, so only the
# first flood of the test can count on it).
flood() {
	local label=$1 flows=$2 base=$3 log=${4:-0} new0 drop0 af0 ed0 all0 t0 peak new1 drop1 af1 ed1 all1 t1 dn dd da de

	new0=$(s new) drop0=$(s drop) af0=$(s alloc_failed)
	ed0=$(( $(s early_drop) + $(sb early_drop) ))
	all0=$(all)
	t0=$(rct_total)
	rct_dmesg_mark
	peak=$(ip netns exec "$A" bash -c '
		D=/proc/sys/net/rconntrack
		peak=0
		for i in $(seq 1 '"$flows"'); do
			echo x 2>/dev/null > /dev/udp/10.0.0.2/$(('"$base"' + i))
			if [ $((i % 50)) = 0 ]; then
				c=$(cat $D/count)
				[ "$c" -gt "$peak" ] && peak=$c
			fi
		done
		echo $peak')
	# Let B handle the last datagrams.
	sleep 0.5
	new1=$(s new) drop1=$(s drop) af1=$(s alloc_failed)
	ed1=$(( $(s early_drop) + $(sb early_drop) ))
	all1=$(all)
	t1=$(rct_total)
	dn=$((new1 - new0)) dd=$((drop1 - drop0)) da=$((af1 - af0)) de=$((ed1 - ed0))
	rct_log "$label: $flows flows from A: new $dn, drop $dd, alloc_failed $da; early_drop (A+B) $de; A+B entries $t0 -> $t1 (peak $peak)"
	cA=$(rct_count "$A") cB=$(rct_count "$B")
	rct_check "$label: each namespace at most max (A peak $peak, final A $cA, B $cB)" \
		[ "$peak" -le 100 -a "$cA" -le 100 -a "$cB" -le 100 ]
	rct_check "$label: every flow tracked or dropped in A: new + drop + alloc_failed = $flows" [ $((dn + dd + da)) = "$flows" ]
	rct_check "$label: entries added = new - early_drop - insert_failed (A and B)" [ $((t1 - t0)) = $((all1 - all0)) ]
	rct_check "$label: early drop evicted entries ($de)" [ "$de" -gt 0 ]
	rct_check "$label: flows were dropped ($dd)" [ "$dd" -gt 0 ]
	[ "$log" = 1 ] || return 0
	if rct_dmesg_since | grep -q 'rconntrack: table full, dropping packet'; then
		rct_pass "$label: log line 'table full, dropping packet'"
	else
		rct_fail "$label: no 'table full' log line"
	fi
}

# 1. The module parameters.
rct_unload
rct_dmesg_mark
rct_load max=100 buckets=1024 || { rct_fail "insmod max=100 buckets=1024"; rct_exit; }
line=$(rct_dmesg_since | grep 'rconntrack: version')
rct_check "max=100 buckets=1024: sysctls read $(rct_sysctl max) and $(rct_sysctl buckets)" \
	[ "$(rct_sysctl max)-$(rct_sysctl buckets)" = 100-1024 ]
if echo "$line" | grep -qF '(1024 buckets, 100 max)'; then
	rct_pass "load line shows the parameters: ${line#*] }"
else
	rct_fail "load line without '(1024 buckets, 100 max)': '$line'"
fi
# Nothing may expire during the count (GC removals are not counted).
echo 600 > $D/udp_timeout

# An established, assured connection before the flood.
rct_tcp_open "$B" 10.0.0.2 8080 "$A" 600 /tmp/rct_full_srv
echo before >&5
busywait 5000 grep -q before /tmp/rct_full_srv || rct_fail "connection before flood"
busywait 5000 eval '[ "$(rct_tcp_state "$A" 8080)" = ESTABLISHED ]' || rct_fail "not established"

flood "insmod max=100" 1000 10000 1

# The established connection survived (ASSURED is never early-dropped,
# and a known flow needs no new entry).
echo after >&5
if busywait 5000 grep -q after /tmp/rct_full_srv; then
	rct_pass "established connection still passes"
else
	rct_fail "established connection broken by the full table"
fi
exec 5>&-

# 2. The sysctl, on a module loaded with its defaults.
rct_unload
rct_load || { rct_fail "insmod"; rct_exit; }
m=$(rct_sysctl max)
rct_check "reloaded without parameters: max $m is not 100" [ "$m" != 100 ]
echo 600 > $D/udp_timeout
echo 1024 > $D/buckets || rct_fail "buckets=1024"
echo 100 > $D/max || rct_fail "max=100"
rct_check "sysctl max reads back 100" [ "$(rct_sysctl max)" = 100 ]
flood "sysctl max=100" 300 20000

# 3. Another namespace while A and B are full.
setup_ns C
cA=$(rct_count "$A") cB=$(rct_count "$B")
n0=$(rct_stat new "$C") d0=$(rct_stat drop "$C") e0=$(rct_stat early_drop "$C")
ip netns exec "$C" bash -c 'for i in $(seq 1 50); do echo x 2>/dev/null > /dev/udp/127.0.0.1/$((30000 + i)); done'
got="count $(rct_count "$C"), new +$(($(rct_stat new "$C") - n0)), drop +$(($(rct_stat drop "$C") - d0)), early_drop +$(($(rct_stat early_drop "$C") - e0))"
rct_check "C beside full A and B: $got (want count 50, new +50, drop +0, early_drop +0)" \
	[ "$got" = "count 50, new +50, drop +0, early_drop +0" ]
rct_check "A and B keep their entries ($cA -> $(rct_count "$A"), $cB -> $(rct_count "$B"))" \
	[ "$(rct_count "$A")-$(rct_count "$B")" = "$cA-$cB" ]
rct_exit
