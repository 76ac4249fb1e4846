#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# net.rconntrack.* sysctls: every bad write (negative, zero where
# meaningless, above the ceiling, 2^32, not a number, very long) fails
# with EINVAL and leaves the value unchanged; every accepted value reads
# back as written; read-only entries and other namespaces cannot write.
source "$(dirname "$0")/lib.sh"
rct_require_root
# A fresh load: the defaults are nf_conntrack's (nf_conntrack_proto_tcp.c,
# _udp.c, _icmp.c, _generic.c of 7.3).
rct_unload
rct_load || { rct_fail "insmod"; rct_exit; }
D=/proc/sys/net/rconntrack
for kv in tcp_timeout_syn_sent=120 tcp_timeout_syn_recv=60 tcp_timeout_established=432000 \
	tcp_timeout_fin_wait=120 tcp_timeout_close_wait=60 tcp_timeout_last_ack=30 \
	tcp_timeout_time_wait=120 tcp_timeout_close=10 udp_timeout=30 udp_timeout_stream=120 \
	icmp_timeout=30 generic_timeout=600 log_invalid=0 drop_invalid=0 max_lowmem_percent=10 \
	tcp_timeout_unacknowledged=300 tcp_timeout_max_retrans=300 tcp_loose=1 tcp_be_liberal=0 \
	tcp_max_retrans=3 tcp_ignore_invalid_rst=0 checksum=1 sctp_timeout_closed=10 \
	sctp_timeout_cookie_wait=3 sctp_timeout_cookie_echoed=3 sctp_timeout_established=210 \
	sctp_timeout_shutdown_sent=3 sctp_timeout_shutdown_recd=3 sctp_timeout_shutdown_ack_sent=3 \
	sctp_timeout_heartbeat_sent=30; do
	rct_check "default ${kv%=*} = ${kv#*=} (nf_conntrack's)" [ "$(cat "$D/${kv%=*}")" = "${kv#*=}" ]
done
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
# Reads and matches with bash builtins: hundreds of writes, and each
# process started costs a tenth of a second and more under TCG.
bad_write() { # FILE VALUE
	local f=$1 v=$2 before after err
	# The whole file, as $(cat) read it (read -d '' stops at the end).
	IFS= read -r -d '' before < "$f"
	if err=$( (printf '%s' "$v" > "$f") 2>&1 ); then
		rct_fail "${f##*/} accepted '${v:0:20}'"
		return
	fi
	IFS= read -r -d '' after < "$f"
	if [ "$after" != "$before" ]; then
		rct_fail "${f##*/} changed to ${after%$'\n'} by rejected '${v:0:20}'"
	elif ! [[ ${err,,} =~ invalid\ argument|permission\ denied|operation\ not\ permitted ]]; then
		rct_fail "${f##*/} '${v:0:20}': unexpected error '$err'"
	fi
}
good_write() { # FILE VALUE
	local f=$1 v=$2 now
	if ! (echo "$v" > "$f") 2>/dev/null; then
		rct_fail "${f##*/} refused valid $v"
	else
		IFS= read -r -d '' now < "$f"
		[ "$now" = "$v"$'\n' ] || rct_fail "${f##*/} wrote $v, reads ${now%$'\n'}"
	fi
}

ceiling=$(cat $D/max_ceiling)
rct_check "max_ceiling ($ceiling) >= max ($(cat $D/max))" [ "$ceiling" -ge "$(cat $D/max)" ]
common_bad=(-1 -2147483648 4294967296 18446744073709551616 abc 0x 12abc "$long" " ")
# The whole list on one entry of each kind, the boundaries on the rest.
for f in max buckets max_lowmem_percent udp_timeout; do
	for v in "${common_bad[@]}" 0; do bad_write "$D/$f" "$v"; done
done
for f in "$D"/*timeout*; do
	for v in -1 0 4294967296 abc; do bad_write "$f" "$v"; done
done
for f in log_invalid drop_invalid tcp_loose tcp_be_liberal tcp_ignore_invalid_rst checksum; do
	for v in "${common_bad[@]}" 2 2147483647; do bad_write "$D/$f" "$v"; done
	good_write "$D/$f" 1
	good_write "$D/$f" 0
done
good_write $D/tcp_loose 1
good_write $D/checksum 1
for v in "${common_bad[@]}" 256; do bad_write $D/tcp_max_retrans "$v"; done
for v in 0 255 3; do good_write $D/tcp_max_retrans "$v"; done
rct_dmesg_mark
bad_write $D/max $((ceiling + 1))
bad_write $D/max 2147483647
if rct_dmesg_since | grep -q "rconntrack: max $((ceiling + 1)) rejected: allowed 1..$ceiling"; then
	rct_pass "max above the ceiling logs the ceiling and why"
else
	rct_fail "no ceiling log line"
fi
for v in 1 100 "$ceiling" 4096; do good_write $D/max "$v"; done
for f in "$D"/*timeout*; do
	good_write "$f" 1
	good_write "$f" 3600
	bad_write "$f" 2147483647
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

# buckets: 1024 .. 4194304 (4M heads: 32 MiB on x86_64, 16 on i386, which
# the guests have; a refusal is a failure).
bad_write $D/buckets 1023
good_write $D/buckets 1024
good_write $D/buckets 4194304
bad_write $D/buckets 4194305
good_write $D/buckets "${saved[$D/buckets]}"

# Other namespaces: global values read-only, count their own. Each write
# is of a value the initial namespace would accept (and that differs from
# the current one), so only the read-only rule can refuse it.
setup_ns N
b=2048
[ "$(cat $D/buckets)" = 2048 ] && b=4096
for fv in "max 100" "buckets $b" "udp_timeout 7" "drop_invalid 1" "log_invalid 1" "max_lowmem_percent 20"; do
	read -r f v <<< "$fv"
	before=$(cat "$D/$f")
	if err=$(ip netns exec "$N" sh -c "echo $v > $D/$f" 2>&1); then
		rct_fail "$f=$v accepted from a non-initial namespace"
	elif ! echo "$err" | grep -qiE 'permission denied|operation not permitted'; then
		rct_fail "$f=$v from a non-initial namespace: unexpected error '$err'"
	elif [ "$(cat "$D/$f")" != "$before" ]; then
		rct_fail "$f changed to $(cat "$D/$f") by a refused write from another namespace"
	else
		rct_pass "$f=$v refused in a non-initial namespace, value stays $before"
	fi
done
# The same values are valid: the initial namespace takes them.
for fv in "buckets $b" "udp_timeout 7"; do
	read -r f v <<< "$fv"
	good_write "$D/$f" "$v"
	good_write "$D/$f" "${saved[$D/$f]}"
done
v=$(ip netns exec "$N" cat $D/max)
rct_check "max visible in other namespaces ($v)" [ "$v" = "$(cat $D/max)" ]
rct_check "count is per namespace" [ "$(ip netns exec "$N" cat $D/count)" = 0 ]
[ "$RCT_RET" = 0 ] && rct_pass "all bad writes rejected with values unchanged, good ones read back"
rct_exit
