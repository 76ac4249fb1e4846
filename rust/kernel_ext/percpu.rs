// SPDX-License-Identifier: GPL-2.0

//! Per-CPU `u32` counters, as nf_conntrack's `NF_CT_STAT_INC`.

use super::glue;
use core::ffi::c_void;
use kernel::prelude::*;

/// `N` per-CPU counters.
///
/// # Invariants
///
/// `ptr` is a live per-CPU allocation of `N` `u32`s, freed only in `drop`.
pub(crate) struct PerCpuCounters<const N: usize> {
    ptr: *mut c_void,
}

// SAFETY: the counters are per-CPU and updated with `this_cpu_inc()`, which
// is safe from any context on any CPU.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: as above; reads of other CPUs' counters are racy snapshots by
// design, as in nf_conntrack.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// Allocates zeroed counters.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain allocation; `__alloc_percpu` zeroes the memory.
        let ptr = unsafe { glue::rct_percpu_alloc(N * core::mem::size_of::<u32>()) };
        if ptr.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: just allocated with room for `N` u32s.
        Ok(Self { ptr })
    }

    /// Increments counter `idx` on this CPU.
    pub(crate) fn inc(&self, idx: usize) {
        if idx < N {
            // SAFETY: `ptr` is valid per the invariant and `idx < N`.
            unsafe { glue::rct_percpu_inc(self.ptr, idx as u32) }
        }
    }

    /// Counter `idx` of `cpu`.
    pub(crate) fn read(&self, cpu: u32, idx: usize) -> u32 {
        if idx >= N || cpu >= nr_cpu_ids() {
            return 0;
        }
        // SAFETY: `ptr` is valid, `idx < N` and `cpu` is below `nr_cpu_ids`.
        unsafe { glue::rct_percpu_read(self.ptr, cpu as i32, idx as u32) }
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: allocated by `__alloc_percpu` and not used after this.
        unsafe { kernel::bindings::free_percpu(self.ptr) }
    }
}

/// `nr_cpu_ids`.
pub(crate) fn nr_cpu_ids() -> u32 {
    // SAFETY: plain read of a global set at boot.
    unsafe { glue::rct_nr_cpu_ids() }
}

/// Iterator over possible CPUs.
pub(crate) fn possible_cpus() -> impl Iterator<Item = u32> {
    let mut cpu: i32 = -1;
    core::iter::from_fn(move || {
        // SAFETY: `cpumask_next()` accepts -1 and any CPU number.
        let next = unsafe { glue::rct_cpu_next(cpu) };
        if next < 0 || next as u32 >= nr_cpu_ids() {
            None
        } else {
            cpu = next;
            Some(next as u32)
        }
    })
}
