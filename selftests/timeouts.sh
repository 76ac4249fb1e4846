#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Short timeouts set by sysctl: entries expire (gone from /proc at once,
# removed by garbage collection soon after) and the counters move.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nc ping socat
rct_load
old_udp=$(rct_sysctl udp_timeout)
old_icmp=$(rct_sysctl icmp_timeout)
restore() {
	echo "$old_udp" > /proc/sys/net/rconntrack/udp_timeout
	echo "$old_icmp" > /proc/sys/net/rconntrack/icmp_timeout
	cleanup_all_ns
}
trap restore EXIT
rct_setup_pair || { rct_fail "setup"; exit $ksft_fail; }

echo 4 > /proc/sys/net/rconntrack/udp_timeout
echo 4 > /proc/sys/net/rconntrack/icmp_timeout
rct_check "udp_timeout reads back 4" [ "$(rct_sysctl udp_timeout)" = 4 ]

new0=$(rct_stat new "$A")
for p in 1 2 3 4 5; do
	echo x | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:9999,sourceport=$((4000 + p)) 2>/dev/null
done
ip netns exec "$A" ping -c 1 -W 1 10.0.0.2 > /dev/null
new1=$(rct_stat new "$A")
n=$(rct_count "$A")
rct_check "6 new entries ($((new1 - new0)) new, count $n)" [ $((new1 - new0)) = 6 -a "$n" -ge 6 ]

if busywait 12000 eval '[ "$(rct_entries "$A" | wc -l)" = 0 ]'; then
	rct_pass "expired entries gone from /proc"
else
	rct_fail "entries still listed after their timeout"
	rct_entries "$A" | sed 's/^/#   /'
fi
if busywait 12000 eval '[ "$(rct_count "$A")" = 0 ]'; then
	rct_pass "garbage collection brought count to 0"
else
	rct_fail "count stuck at $(rct_count "$A")"
fi

# An expired connection gets a fresh entry, counted as new.
echo x | ip netns exec "$A" socat -u - UDP4-SENDTO:10.0.0.2:9999,sourceport=4001 2>/dev/null
new2=$(rct_stat new "$A")
rct_check "same flow after expiry is new again" [ $((new2 - new1)) = 1 ]

# A refreshed entry does not expire: traffic every second for 6 seconds.
for i in 1 2 3 4 5 6; do
	ip netns exec "$A" ping -c 1 -W 1 10.0.0.2 > /dev/null
	sleep 1
done
if rct_entries "$A" | grep -q icmp; then
	rct_pass "refreshed ICMP entry still present"
else
	rct_fail "refreshed ICMP entry expired"
fi
exit $RCT_RET
