// SPDX-License-Identifier: GPL-2.0

//! rconntrack: connection tracking in Rust.
//!
//! A netfilter connection tracker with its own table: per-bucket striped
//! spinlocks with ordered double locking, RCU lookups, entries from a
//! dedicated slab cache allocated atomically in softirq, and a `max` whose
//! default and ceiling follow lowmem, not RAM (see `limits.rs`).
//!
//! Layout: `kernel_ext/` holds the safe abstractions over C (and all the
//! FFI code); `tracker.rs`, `knobs.rs` hold the conntrack logic;
//! `tuple.rs`, `proto.rs`, `limits.rs` are pure logic also built on the
//! host for `cargo test`.

use kernel::prelude::*;
use kernel::sync::Arc;

mod kernel_ext;
mod knobs;
mod tracker;

// Pure logic, shared with the host build (`rust/host`), where it is public.
#[allow(unreachable_pub)]
mod limits;
#[allow(unreachable_pub)]
mod proto;
#[allow(unreachable_pub)]
mod sctp;
#[allow(unreachable_pub)]
mod tuple;

#[cfg(CONFIG_KUNIT)]
mod kunit_abi;
#[cfg(CONFIG_KUNIT)]
mod kunit_tests;

use kernel_ext::netns::Registration;
use kernel_ext::sys;
use kernel_ext::work::Periodic;
use tracker::Tracker;

/// Module version, printed in the load line.
const VERSION: &str = "0.1.0";

module! {
    type: Rconntrack,
    name: "rconntrack",
    authors: ["rconntrack developers"],
    description: "Connection tracking in Rust: striped-lock hash table, lowmem-aware limit",
    license: "GPL",
    params: {
        max: u32 {
            default: 0,
            description: "Initial table limit (0: derived from lowmem)",
        },
        buckets: u32 {
            default: 0,
            description: "Hash buckets (0: derived from lowmem)",
        },
        debug_hook_delay_us: u32 {
            default: 0,
            description: "Testing only: busy-wait this long in every hook (widens teardown races)",
        },
    },
}

/// The module. Fields drop in order: the GC work is cancelled, then every
/// namespace is torn down (hooks, sysctls, files, entries), and the tracker
/// goes with the registration's reference (its table waits for the RCU
/// callbacks that free entries before destroying their cache).
struct Rconntrack {
    _gc: Periodic<Tracker>,
    _reg: Registration<Tracker>,
}

impl kernel::Module for Rconntrack {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let lowmem_kib = sys::pages_to_kib(sys::lowmem_pages());
        let highmem_kib = sys::pages_to_kib(sys::highmem_pages());
        let ptr_size = core::mem::size_of::<usize>() as u32;
        let mut nbuckets = module_parameters::buckets.value();
        if nbuckets == 0 {
            nbuckets = limits::default_buckets(lowmem_kib >> 10, ptr_size, ptr_size == 8);
        }
        if !(limits::MIN_BUCKETS..=limits::MAX_BUCKETS).contains(&nbuckets) {
            pr_err!(
                "buckets={} out of range {}..{}\n",
                nbuckets,
                limits::MIN_BUCKETS,
                limits::MAX_BUCKETS
            );
            return Err(EINVAL);
        }
        let t = Tracker::new(knobs::Settings::new(lowmem_kib)?, nbuckets)?;
        let ceiling = t.ceiling();
        let mut max = module_parameters::max.value();
        if max == 0 {
            max = limits::default_max(nbuckets, ceiling);
        }
        if max > ceiling {
            pr_err!(
                "max={} above the lowmem ceiling {} ({}% of {} MiB lowmem)\n",
                max,
                ceiling,
                t.settings.max_lowmem_percent(),
                lowmem_kib >> 10
            );
            return Err(EINVAL);
        }
        t.settings.set_max(max);
        t.settings
            .set_debug_hook_delay_us(module_parameters::debug_hook_delay_us.value());
        pr_info!(
            "version {} ({} buckets, {} max) - {} bytes per conntrack, memory {} bytes, lowmem {} MiB, highmem {} MiB, ceiling {} ({}% of lowmem), {} locks\n",
            VERSION,
            nbuckets,
            max,
            t.table.object_size(),
            t.memory_bytes(),
            lowmem_kib >> 10,
            highmem_kib >> 10,
            ceiling,
            t.settings.max_lowmem_percent(),
            t.table.nlocks()
        );
        let t = Arc::new(t, GFP_KERNEL)?;
        let reg = Registration::new(t)?;
        let gc = Periodic::start(reg.data().clone(), 1)?;
        Ok(Rconntrack { _gc: gc, _reg: reg })
    }
}
