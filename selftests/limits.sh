#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Module parameters and the limits they and the sysctls set:
#
# 1. insmod max=1 buckets=4194304 and max=<ceiling> buckets=1024 (the
#    boundaries): the sysctls and the load line show them.
# 2. insmod max=<ceiling + 1>, buckets=1023, buckets=4194305: insmod fails
#    with EINVAL, a log line says why, no module and no slab cache left.
# 3. With 20 ASSURED UDP flows between A and B (40 entries): writing
#    buckets resizes the table live and keeps every entry (same lines,
#    same count) and lookups keep hitting them (found +20 each side, new 0).
# 4. max holds each namespace's own count (nf_conntrack_max): lowered
#    below A's and B's 20 (to 15): accepted, no entry removed; a new flow
#    in A gets no entry (its packet dropped: drop +1, new +0; all of A's
#    entries ASSURED, so nothing to evict) while known flows pass; a new
#    flow in C, which holds none, gets one though the table holds 40; with
#    max = A's count A is still full, one above it is not.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip insmod rmmod bash
rct_require_pkt
D=/proc/sys/net/rconntrack
cleanup() {
	cleanup_all_ns
	# Parameters and sysctls of this test go with the module.
	rct_unload
}
trap cleanup EXIT

# load_ok DESC PARAMS...: insmod with PARAMS works; the sysctls and the
# load line show max and buckets (the caller's want_max, want_buckets).
load_ok() {
	local desc=$1 line
	shift
	rct_unload
	rct_dmesg_mark
	if ! insmod "$RCT_MODULE" "$@"; then
		rct_fail "$desc: insmod $* refused"
		return 1
	fi
	line=$(rct_dmesg_since | grep 'rconntrack: version')
	rct_check "$desc: max $(rct_sysctl max), buckets $(rct_sysctl buckets) (want $want_max, $want_buckets)" \
		[ "$(rct_sysctl max)-$(rct_sysctl buckets)" = "$want_max-$want_buckets" ]
	if echo "$line" | grep -qF "($want_buckets buckets, $want_max max)"; then
		rct_pass "$desc: load line ${line#*] }"
	else
		rct_fail "$desc: load line '$line' lacks '($want_buckets buckets, $want_max max)'"
	fi
}

# load_bad DESC LOG PARAMS...: insmod with PARAMS fails with EINVAL, the
# kernel log has the line LOG (fixed string), nothing is left loaded.
load_bad() {
	local desc=$1 log=$2 err
	shift 2
	rct_unload
	rct_dmesg_mark
	if err=$(insmod "$RCT_MODULE" "$@" 2>&1); then
		rct_fail "$desc: insmod $* accepted"
		rct_unload
		return
	fi
	if echo "$err" | grep -qi 'invalid argument'; then
		rct_pass "$desc: insmod fails with EINVAL"
	else
		rct_fail "$desc: insmod error '$err', want 'Invalid argument'"
	fi
	if rct_dmesg_since | grep -qF "rconntrack: $log"; then
		rct_pass "$desc: log line 'rconntrack: $log'"
	else
		rct_fail "$desc: no log line 'rconntrack: $log'"
		rct_dmesg_since | grep rconntrack | tail -n 3 | sed 's/^/#   /'
	fi
	rct_check "$desc: nothing loaded, no slab cache left" \
		eval '[ ! -d /sys/module/rconntrack ] && ! grep -qE "^rconntrack(_nat6)? " /proc/slabinfo'
}

# 1. Valid boundaries.
want_max=1 want_buckets=4194304
load_ok "max=1 buckets=4194304" max=1 buckets=4194304
ceiling=$(rct_sysctl max_ceiling)
lowmib=$(( $(rct_lowmem_kib) >> 10 ))
want_max=$ceiling want_buckets=1024
load_ok "max=ceiling ($ceiling) buckets=1024" max="$ceiling" buckets=1024

# 2. Invalid values.
load_bad "max=ceiling+1" "max=$((ceiling + 1)) above the lowmem ceiling $ceiling (10% of $lowmib MiB lowmem)" \
	max=$((ceiling + 1))
load_bad "buckets=1023" "buckets=1023 out of range 1024..4194304" buckets=1023
load_bad "buckets=4194305" "buckets=4194305 out of range 1024..4194304" buckets=4194305

# 3. and 4. on a module with its defaults.
rct_unload
rct_load || { rct_fail "insmod"; rct_exit; }
echo 600 > $D/udp_timeout
echo 600 > $D/udp_timeout_stream
rct_setup_pair || { rct_fail "setup"; rct_exit; }
setup_ns C
N=20
# raw NS SRC DST SPORT DPORT [COUNT]: UDP datagrams through NS's stack.
raw() {
	"$RCT_PKT" -N "$1" -r "$2" "$3" udp "$4" "$5" "${6:-1}" ||
		rct_fail "rct_pkt in $1"
}
# N flows A:20000+i -> B:9, replied, then again more than 2 s after the
# first packet: ASSURED on both sides (nf_conntrack's UDP stream rule).
raw "$A" 10.0.0.1 10.0.0.2 20000+ 9 $N
busywait 5000 eval '[ "$(rct_count "$B")" = $N ]'
raw "$B" 10.0.0.2 10.0.0.1 9 20000+ $N
busywait 5000 eval '[ "$(rct_entries "$A" | grep -vc UNREPLIED)" = $N ]'
sleep 2.5
raw "$A" 10.0.0.1 10.0.0.2 20000+ 9 $N
assured_all() { [ "$(rct_entries "$1" | grep -c '\[ASSURED\] mark=0 use=1$')" = $N ]; }
busywait 5000 assured_all "$B"
lA=$(rct_entries "$A" | rct_untimed | sort) lB=$(rct_entries "$B" | rct_untimed | sort)
rct_check "$N ASSURED flows: A $(echo "$lA" | grep -c ASSURED), B $(echo "$lB" | grep -c ASSURED) ASSURED entries, $(rct_total) in the table (want $N, $N, $((2 * N)))" \
	[ "$(echo "$lA" | grep -c ASSURED)-$(echo "$lB" | grep -c ASSURED)-$(rct_total)" = "$N-$N-$((2 * N))" ]

same_entries() { # DESC
	local a b
	a=$(rct_entries "$A" | rct_untimed | sort) b=$(rct_entries "$B" | rct_untimed | sort)
	if [ "$a" = "$lA" ] && [ "$b" = "$lB" ] && [ "$(rct_total)" = $((2 * N)) ]; then
		rct_pass "$1: the same $((2 * N)) entries"
	else
		rct_fail "$1: entries changed ($(rct_total) in the table):"
		diff <(echo "$lA"; echo "$lB") <(echo "$a"; echo "$b") | head -n 10 | sed 's/^/#   /'
	fi
}

# 3. Live resizes keep the entries.
for b in 1024 8192 2048; do
	if echo $b > $D/buckets && [ "$(rct_sysctl buckets)" = $b ]; then
		same_entries "buckets=$b"
	else
		rct_fail "buckets=$b refused or not read back ($(rct_sysctl buckets))"
	fi
done
fA=$(rct_stat found "$A") fB=$(rct_stat found "$B") nA=$(rct_stat new "$A") nB=$(rct_stat new "$B")
raw "$A" 10.0.0.1 10.0.0.2 20000+ 9 $N
busywait 5000 eval '[ $(($(rct_stat found "$B") - fB)) -ge $N ]'
d="found A +$(($(rct_stat found "$A") - fA)) B +$(($(rct_stat found "$B") - fB)), new A +$(($(rct_stat new "$A") - nA)) B +$(($(rct_stat new "$B") - nB))"
rct_check "after the resizes, $N more datagrams are known flows: $d (want found +$N, new +0)" \
	[ "$d" = "found A +$N B +$N, new A +0 B +0" ]

# 4. max below the count. max holds each namespace's own count (as
# nf_conntrack_max): A and B hold N each, C none.
old_max=$(rct_sysctl max)
M=$((N - 5))
if echo $M > $D/max && [ "$(rct_sysctl max)" = $M ]; then
	rct_pass "max=$M accepted below A's and B's count $N"
else
	rct_fail "max=$M refused below the count"
fi
same_entries "max lowered below the count"
# probe NS: a datagram on a new flow over NS's loopback (a new source port
# each time); prints NS's "new drop early_drop count" growth.
probe() {
	local n0 d0 e0 c0
	n0=$(rct_stat new "$1") d0=$(rct_stat drop "$1") e0=$(rct_stat early_drop "$1") c0=$(rct_count "$1")
	ip netns exec "$1" bash -c 'echo x > /dev/udp/127.0.0.1/7' 2>/dev/null
	echo "$(($(rct_stat new "$1") - n0)) $(($(rct_stat drop "$1") - d0)) $(($(rct_stat early_drop "$1") - e0)) $(($(rct_count "$1") - c0))"
}
r=$(probe "$A")
rct_check "new flow in A, count $N > max $M (all ASSURED, nothing to evict): new drop early_drop count +$r (want 0 1 0 0)" [ "$r" = "0 1 0 0" ]
same_entries "after the refused flow"
r=$(probe "$C")
rct_check "new flow in C, count 0 < max $M though the table holds $((2 * N)): new drop early_drop count +$r (want 1 0 0 1)" [ "$r" = "1 0 0 1" ]
fA=$(rct_stat found "$A") dA=$(rct_stat drop "$A")
raw "$A" 10.0.0.1 10.0.0.2 20000 9
rct_check "a known flow still passes: A found +$(($(rct_stat found "$A") - fA)), drop +$(($(rct_stat drop "$A") - dA)) (want 1, 0)" \
	[ "$(($(rct_stat found "$A") - fA))-$(($(rct_stat drop "$A") - dA))" = 1-0 ]
# B's entries go with B (the veth pair too): A's N and C's 1 left.
ip netns del "$B"
if busywait 10000 eval '[ "$(rct_total)" = $((N + 1)) ]'; then
	rct_pass "B deleted: $((N + 1)) entries left"
else
	rct_fail "B deleted: $(rct_total) entries left, want $((N + 1))"
fi
echo $N > $D/max || rct_fail "max=$N"
r=$(probe "$A")
rct_check "A's count $N = max $N is full: new drop early_drop count +$r (want 0 1 0 0)" [ "$r" = "0 1 0 0" ]
echo $((N + 1)) > $D/max || rct_fail "max=$((N + 1))"
r=$(probe "$A")
rct_check "A's count $N < max $((N + 1)): the new flow gets an entry: new drop early_drop count +$r (want 1 0 0 1)" [ "$r" = "1 0 0 1" ]
echo "$old_max" > $D/max
rct_exit
