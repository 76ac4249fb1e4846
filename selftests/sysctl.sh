#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# net.rconntrack.* sysctls: every bad write (negative, zero where
# meaningless, above the ceiling, 2^32, not a number, very long) fails
# with EINVAL and leaves the value unchanged; every accepted value reads
# back as written; read-only entries and other namespaces cannot write.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_load
D=/proc/sys/net/rconntrack
declare -A saved
for f in "$D"/*; do saved[$f]=$(cat "$f"); done
restore() {
	# max_lowmem_percent before max: each is checked against the other.
	for f in max_lowmem_percent max buckets; do echo "${saved[$D/$f]}" > "$D/$f" 2>/dev/null; done
	for f in "${!saved[@]}"; do [ -w "$f" ] && echo "${saved[$f]}" > "$f" 2>/dev/null; done
	cleanup_all_ns
}
trap restore EXIT

long=$(head -c 5000 /dev/zero | tr '\0' 7)
bad_write() { # FILE VALUE
	local f=$1 v=$2 before after err
	before=$(cat "$f")
	if err=$( (printf '%s' "$v" > "$f") 2>&1 ); then
		rct_fail "$(basename "$f") accepted '${v:0:20}'"
		return
	fi
	after=$(cat "$f")
	if [ "$after" != "$before" ]; then
		rct_fail "$(basename "$f") changed to $after by rejected '${v:0:20}'"
	elif ! echo "$err" | grep -qiE 'invalid argument|permission denied|operation not permitted'; then
		rct_fail "$(basename "$f") '${v:0:20}': unexpected error '$err'"
	fi
}
good_write() { # FILE VALUE
	local f=$1 v=$2
	if ! (echo "$v" > "$f") 2>/dev/null; then
		rct_fail "$(basename "$f") refused valid $v"
	elif [ "$(cat "$f")" != "$v" ]; then
		rct_fail "$(basename "$f") wrote $v, reads $(cat "$f")"
	fi
}

ceiling=$(cat $D/max_ceiling)
rct_check "max_ceiling ($ceiling) >= max ($(cat $D/max))" [ "$ceiling" -ge "$(cat $D/max)" ]
common_bad=(-1 -2147483648 4294967296 18446744073709551616 abc 0x 12abc "$long" " ")
# The whole list on one entry of each kind, the boundaries on the rest.
for f in max buckets max_lowmem_percent udp_timeout; do
	for v in "${common_bad[@]}" 0; do bad_write "$D/$f" "$v"; done
done
for f in $(cd $D && ls | grep timeout); do
	for v in -1 0 4294967296 abc; do bad_write "$D/$f" "$v"; done
done
for f in log_invalid drop_invalid; do
	for v in "${common_bad[@]}" 2 2147483647; do bad_write "$D/$f" "$v"; done
	good_write "$D/$f" 1
	good_write "$D/$f" 0
done
rct_dmesg_mark
bad_write $D/max $((ceiling + 1))
bad_write $D/max 2147483647
if rct_dmesg_since | grep -q "rconntrack: max $((ceiling + 1)) rejected: allowed 1..$ceiling"; then
	rct_pass "max above the ceiling logs the ceiling and why"
else
	rct_fail "no ceiling log line"
fi
for v in 1 100 "$ceiling" 4096; do good_write $D/max "$v"; done
for f in $(cd $D && ls | grep timeout); do
	good_write "$D/$f" 1
	good_write "$D/$f" 3600
	bad_write "$D/$f" 2147483647
done
good_write $D/max_lowmem_percent 20
good_write $D/max_lowmem_percent 10
bad_write $D/max_lowmem_percent 91
for f in count entry_size memory_bytes max_ceiling; do
	bad_write "$D/$f" 1
	bad_write "$D/$f" "$(cat $D/$f)"
done
# A lower percentage whose ceiling is below max is refused.
good_write $D/max "$(cat $D/max_ceiling)"
bad_write $D/max_lowmem_percent 1
good_write $D/max 4096

# Other namespaces: global values read-only, count their own.
setup_ns N
for f in max buckets udp_timeout drop_invalid; do
	if ip netns exec "$N" sh -c "echo 1 > $D/$f" 2>/dev/null; then
		rct_fail "$f writable from a non-initial namespace"
	fi
done
v=$(ip netns exec "$N" cat $D/max)
rct_check "max visible in other namespaces ($v)" [ "$v" = "$(cat $D/max)" ]
rct_check "count is per namespace" [ "$(ip netns exec "$N" cat $D/count)" = 0 ]
[ "$RCT_RET" = 0 ] && rct_pass "all bad writes rejected with values unchanged, good ones read back"
exit $RCT_RET
