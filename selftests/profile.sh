#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where the per-packet cost goes (not a test; `make profile`). The one-flow
# workload of bench.sh (pktgen, UDP A -> B over veth, every packet a lookup
# hit, to the broadcast address as there) under `perf record -e cpu-clock`
# for each mode. The guest runs under
# -icount, so the sampling timer ticks in guest instructions: a symbol's
# share of samples is its share of instructions. Prints, per mode, pktgen's
# rate and perf's flat profile by symbol.
source "$(dirname "$0")/lib.sh"
COUNT=${COUNT:-300000}
PERIOD=${PERIOD:-20000}
MODES=${MODES:-"none rconntrack nf_conntrack"}
PERF=$(command -v perf)
[ -x "$PERF" ] || { echo "no perf in this rootfs (make profile adds linux-perf)"; exit 1; }
echo /usr/bin/modprobe > /proc/sys/kernel/modprobe
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid
modprobe pktgen || { echo "no pktgen"; exit 1; }

# pg_setup N: pktgen in A set up for N packets of FLOWS flows, as bench.sh.
pg_setup() {
	local cfg="'count $1' 'clone_skb 0' 'pkt_size 64' 'dst 255.255.255.255'"
	cfg+=" 'dst_mac ff:ff:ff:ff:ff:ff' 'udp_dst_min 9' 'udp_dst_max 9'"
	case $FLOWS in
	1) cfg+=" 'src_min 10.0.2.1' 'src_max 10.0.2.1' 'udp_src_min 1024' 'udp_src_max 1024'" ;;
	1048528) cfg+=" 'src_min 10.0.2.0' 'src_max 10.0.2.15' 'udp_src_min 1' 'udp_src_max 65534'" ;;
	*) cfg+=" 'src_min 10.0.2.1' 'src_max 10.0.2.1' 'udp_src_min 1' 'udp_src_max $((FLOWS + 1))'" ;;
	esac
	rct_pktgen_clear "$A" 0 || exit 1
	ip netns exec "$A" sh -c "
		echo 'add_device va' > /proc/net/pktgen/kpktgend_0
		for c in $cfg; do
			echo \"\$c\" > /proc/net/pktgen/va || exit 1
		done"
}

FLOWS=${FLOWS:-1}
D=/proc/sys/net/rconntrack
n=$((FLOWS + 4096))
for mode in $MODES; do
	cleanup_all_ns
	rct_setup_pair
	case $mode in
	rconntrack)
		rct_load
		echo 90 > $D/max_lowmem_percent
		echo "$n" > $D/max
		echo "$n" > $D/buckets
		echo 600 > $D/udp_timeout
		;;
	nf_conntrack)
		ip netns exec "$B" nft -f - <<-'NFT'
		table inet rctbench {
			chain pre {
				type filter hook prerouting priority 0; policy accept;
				ct state new counter
			}
		}
		NFT
		echo "$n" > /proc/sys/net/netfilter/nf_conntrack_max
		echo "$n" > /proc/sys/net/netfilter/nf_conntrack_buckets
		ip netns exec "$B" sh -c 'echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout'
		;;
	esac
	if [ "$FLOWS" -gt 1 ] && [ "$mode" != none ]; then
		# Prefill: one pass over the flows, not profiled.
		pg_setup "$FLOWS"
		ip netns exec "$A" sh -c 'echo start > /proc/net/pktgen/pgctrl'
	fi
	pg_setup "$COUNT"
	# A sample every PERIOD ns of guest time, which -icount makes
	# PERIOD instructions.
	"$PERF" record -q -a -e cpu-clock -c "$PERIOD" -o /tmp/perf.data -- \
		ip netns exec "$A" sh -c 'echo start > /proc/net/pktgen/pgctrl' 2>&1 | tail -n 3
	pps=$(ip netns exec "$A" cat /proc/net/pktgen/va | sed -n 's/.* \([0-9]*\)pps.*/\1/p')
	echo "== profile $mode: $COUNT packets of $FLOWS flows, ${pps:-0} pps =="
	"$PERF" report -i /tmp/perf.data --stdio --no-children --sort dso 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 8
	# The module's own symbols, with addresses perf could not name.
	[ "$mode" = rconntrack ] &&
		"$PERF" report -i /tmp/perf.data --stdio --no-children -n --dsos '[rconntrack]' \
			--sort sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 25
	# symbol, samples (the idle loop is not the packet's)
	"$PERF" report -i /tmp/perf.data --stdio --no-children -n --sort sym 2>/dev/null |
		awk '!/^#/ && NF >= 4 && $4 !~ /safe_halt/ { print $4, $2 }' > "/tmp/prof.$mode"
	case $mode in
	rconntrack) rmmod rconntrack ;;
	nf_conntrack) ip netns exec "$B" nft delete table inet rctbench ;;
	esac
done
cleanup_all_ns

# Instructions per packet by symbol in each mode (samples x PERIOD /
# COUNT), the symbols where the modes differ most from no tracking first.
echo "== instructions per packet by symbol (modes: $MODES) =="
# shellcheck disable=SC2086 # one file per mode
awk -v period="$PERIOD" -v count="$COUNT" -v modes="$MODES" '
	# Rust v0 symbols: the last two length-prefixed names (Type::fn).
	function short(s,   i, c, n, id, a, b) {
		if (substr(s, 1, 2) != "_R") return s
		a = b = ""
		for (i = 3; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c !~ /[0-9]/ || substr(s, i - 1, 1) ~ /[0-9]/) continue
			n = 0
			while (substr(s, i, 1) ~ /[0-9]/) { n = n * 10 + substr(s, i, 1); i++ }
			id = substr(s, i, n)
			if (n > 0 && id ~ /^[A-Za-z][A-Za-z0-9_]*$/) { a = b; b = id; i += n - 1 }
			else i--
		}
		return a "::" b
	}
	FNR == 1 { m++ }
	{ n[$1, m] = $2; sym[$1] = 1; tot[m] += $2 }
	END {
		k = split(modes, name, " ")
		line = sprintf("9999999.9 %-44s", "symbol")
		for (i = 1; i <= k; i++) line = line sprintf(" %12s", name[i])
		print line
		line = sprintf("9999999.8 %-44s", "TOTAL")
		for (i = 1; i <= k; i++) line = line sprintf(" %12.0f", tot[i] * period / count)
		print line
		for (s in sym) {
			d = 0
			for (i = 2; i <= k; i++) {
				x = (n[s, i] - n[s, 1]) * period / count
				if (x < 0) x = -x
				if (x > d) d = x
			}
			if (d < 8) continue
			line = sprintf("%-44s", substr(short(s), 1, 44))
			for (i = 1; i <= k; i++) line = line sprintf(" %12.0f", n[s, i] * period / count)
			printf "%09.1f %s\n", d, line
		}
	}' $(for m in $MODES; do echo "/tmp/prof.$m"; done) | sort -r | cut -c11- | head -n "${TOP:-60}"
