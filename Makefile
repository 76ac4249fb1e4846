# SPDX-License-Identifier: GPL-2.0
# rconntrack: out-of-tree Rust connection tracker, its kernel patches, and
# the QEMU harness that builds and tests both.
#
#   make run     boot the x86_64 guest with rconntrack tracking real traffic
#   make check   host tests, lints, kselftests on x86_64 and i386 guests
#   make bench   benchmarks (ratios vs nf_conntrack and no tracking)
#   make profile where the per-packet cost goes (perf in the bench guest)
#   make torture race tests for MINUTES (default 5)
#   make mutants mutation tests: every selftests/mutants patch must fail its tests
#
# Everything is set up on first use (make deps) and cached in
# $${XDG_CACHE_HOME:-~/.cache}/rconntrack.

ARCHES ?= x86_64 i386
Q := qemu

.PHONY: all deps kernel module host-test harness-test run shell check bench profile torture mutants clean help

all: module

help:
	@sed -n 's/^#   //p' Makefile

deps:
	$(Q)/deps.sh

kernel: deps
	@for a in $(ARCHES); do $(Q)/kernel.sh $$a || exit 1; done

module: deps
	@for a in $(ARCHES); do $(Q)/module.sh $$a || exit 1; done

host-test:
	cd rust/host && cargo test

# The harness's own self-test (seconds; make check runs it too).
harness-test:
	$(Q)/harness-test.sh

run: deps
	@if [ -t 0 ]; then $(Q)/vm.sh x86_64 shell; else $(Q)/vm.sh x86_64 run; fi

shell: deps
	$(Q)/vm.sh $(or $(ARCH),x86_64) shell

# make check [ARCHES=x86_64] [RCT_TESTS="load.sh proto.sh"]
check:
	ARCHES="$(ARCHES)" $(Q)/check.sh

# The rconntrack benchmarks on ARCH's release kernel (qemu/kernel.sh ARCH
# release: no KASAN, lockdep or kmemleak, built and cached for make bench
# only): per-packet cost under -icount, then 1 vs 2 CPUs in wall clock
# (bench-smp, alone on the host), then the neighbour patches' A/B (the
# unpatched x86_64 test configuration, likewise; writes bench/neigh.md).
bench:
	$(Q)/deps.sh bench
	RCT_KFLAVOUR=release $(Q)/vm.sh $(or $(ARCH),x86_64) bench
	RCT_KFLAVOUR=release $(Q)/vm.sh $(or $(ARCH),x86_64) bench-smp
	$(Q)/bench-report.sh
	$(Q)/bench-neigh.sh

# make profile [FLOWS=N]: where a packet's cost goes: bench.sh's established
# workload (one flow, or N prefilled) under perf
# (cpu-clock, guest instructions under -icount) per mode, on ARCH's release
# kernel, with a guest image that adds Debian's linux-perf.
profile: deps
	RCT_KFLAVOUR=release RCT_ROOTFS_EXTRA=linux-perf $(Q)/vm.sh $(or $(ARCH),x86_64) profile $(FLOWS)

# make torture [MINUTES=5] [ARCH=x86_64]: the race tests, torture.sh for
# MINUTES, then namespace churn and unloads with hooks in flight. On i386
# torture.sh also fills the table to 1M entries and reads it through /proc.
MINUTES ?= 5
torture: deps
	RCT_TORTURE_SECS=$$(( $(MINUTES) * 60 )) RCT_TIMEOUT=$$(( $(MINUTES) * 60 + 2400 )) \
	RCT_TORTURE_BIG=$$([ "$(or $(ARCH),x86_64)" = i386 ] && echo 1 || echo 0) \
		$(Q)/vm.sh $(or $(ARCH),x86_64) check torture.sh netns_churn.sh unload_race.sh

# make mutants [MUTANTS="04 stat-header-wrong"]: each mutant of
# selftests/mutants (all by default) built and run against the selftests its
# header names; a mutant that survives fails the target (qemu/mutants.sh).
mutants:
	$(Q)/mutants.sh $(MUTANTS)

clean:
	rm -rf rust/host/target
	rm -rf $${XDG_CACHE_HOME:-$$HOME/.cache}/rconntrack/module $${XDG_CACHE_HOME:-$$HOME/.cache}/rconntrack/run
