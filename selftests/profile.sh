#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where the per-packet cost goes (not a test; `make profile`). The one-flow
# workload of bench.sh (pktgen, UDP A -> B over veth, every packet a lookup
# hit, to the broadcast address as there) under `perf record -e cpu-clock`
# for each mode. The guest runs under
# -icount, so the sampling timer ticks in guest instructions: a symbol's
# share of samples is its share of instructions. Prints, per mode, pktgen's
# rate and perf's flat profile by symbol.
COUNT=${COUNT:-300000}
PERIOD=${PERIOD:-20000}
FLOWS=${FLOWS:-1}
# bench.sh's set-up (setup, mode_on, mode_off, pg_setup, pg, pg_rate).
RCT_BENCH_SOURCE_ONLY=1 source "$(dirname "$0")/bench.sh"
PERF=$(command -v perf)
[ -x "$PERF" ] || { echo "no perf in this rootfs (make profile adds linux-perf)"; exit 1; }
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid
modprobe pktgen || { echo "no pktgen"; exit 1; }

for mode in $MODES; do
	setup
	mode_on "$mode" "$FLOWS"
	# Prefill: one pass over the flows, not profiled.
	[ "$FLOWS" -gt 1 ] && [ "$mode" != none ] && pg "$FLOWS" "$FLOWS" > /dev/null
	pg_setup "$COUNT" "$FLOWS"
	# A sample every PERIOD ns of guest time, which -icount makes
	# PERIOD instructions.
	"$PERF" record -q -a -e cpu-clock -c "$PERIOD" -o /tmp/perf.data -- \
		ip netns exec "$A" sh -c 'echo start > /proc/net/pktgen/pgctrl' 2>&1 | tail -n 3
	pps=$(pg_rate) || exit 1
	echo "== profile $mode: $COUNT packets of $FLOWS flows, $pps pps =="
	"$PERF" report -i /tmp/perf.data --stdio --no-children --sort dso 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 8
	# The module's own symbols, with addresses perf could not name.
	[ "$mode" = rconntrack ] &&
		"$PERF" report -i /tmp/perf.data --stdio --no-children -n --dsos '[rconntrack]' \
			--sort sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 25
	# symbol, samples (the idle loop is not the packet's)
	"$PERF" report -i /tmp/perf.data --stdio --no-children -n --sort sym 2>/dev/null |
		awk '!/^#/ && NF >= 4 && $4 !~ /safe_halt/ { print $4, $2 }' > "/tmp/prof.$mode"
	mode_off "$mode"
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
