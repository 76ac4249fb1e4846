// SPDX-License-Identifier: GPL-2.0

//! Small safe wrappers: time, memory figures, rate limiting, scheduling.

use super::glue;

/// The current `jiffies`.
#[inline]
pub(crate) fn jiffies() -> usize {
    // SAFETY: `jiffies` is a live global the timer tick updates; a volatile
    // read of the whole word is what C's `READ_ONCE(jiffies)` does (on
    // 32-bit it is the low word of `jiffies_64`, read the same way by C).
    unsafe { core::ptr::read_volatile(&raw const kernel::bindings::jiffies) as usize }
}

/// Ticks per second (`HZ`, which is `CONFIG_HZ` in the kernel; the `HZ`
/// that bindgen sees is the user-space one).
#[inline]
pub(crate) const fn hz() -> u32 {
    kernel::bindings::CONFIG_HZ
}

/// `time_after_eq(a, b)` on `unsigned long` jiffies, wrap-safe.
pub(crate) fn time_after_eq(a: usize, b: usize) -> bool {
    (a.wrapping_sub(b) as isize) >= 0
}

/// Seconds to jiffies, saturating (32-bit arithmetic only on i386).
pub(crate) fn secs_to_jiffies(secs: u32) -> usize {
    (secs as usize).saturating_mul(hz() as usize)
}

/// Pages that slab can use: all RAM minus highmem.
pub(crate) fn lowmem_pages() -> usize {
    // SAFETY: plain reads of global counters.
    unsafe { (glue::rct_totalram_pages() - glue::rct_totalhigh_pages()) as usize }
}

/// Total highmem pages (0 on 64-bit).
pub(crate) fn highmem_pages() -> usize {
    // SAFETY: plain read of a global counter.
    unsafe { glue::rct_totalhigh_pages() as usize }
}

/// Free pages outside highmem.
pub(crate) fn free_lowmem_pages() -> usize {
    // SAFETY: plain reads of global counters.
    unsafe { glue::rct_free_lowmem_pages() as usize }
}

/// `PAGE_SHIFT`.
pub(crate) fn page_shift() -> u32 {
    // SAFETY: returns a constant.
    unsafe { glue::rct_page_shift() }
}

/// Pages to KiB, saturating at `u32::MAX`.
pub(crate) fn pages_to_kib(pages: usize) -> u32 {
    let kib = pages.saturating_mul(1 << (page_shift() - 10));
    u32::try_from(kib).unwrap_or(u32::MAX)
}

/// `net_ratelimit()`: whether a packet-path message may be printed now.
pub(crate) fn net_ratelimit() -> bool {
    // SAFETY: no precondition; callable from any context.
    unsafe { kernel::bindings::net_ratelimit() != 0 }
}

/// `cond_resched()`; only from process context without locks held.
pub(crate) fn cond_resched() {
    // SAFETY: callers are in process context and hold no spinlock, which is
    // all `cond_resched()` requires (it is a no-op otherwise under PREEMPT).
    unsafe { glue::rct_cond_resched() }
}

/// Waits for all RCU readers and callbacks queued so far.
pub(crate) fn rcu_barrier() {
    // SAFETY: called from process context (module init/exit, work items).
    unsafe { kernel::bindings::rcu_barrier() }
}

/// Waits for an RCU grace period.
pub(crate) fn synchronize_rcu() {
    // SAFETY: called from process context.
    unsafe { kernel::bindings::synchronize_rcu() }
}

/// `cpu_relax()`: a pause in a spin-wait loop.
pub(crate) fn cpu_relax() {
    // SAFETY: no precondition.
    unsafe { glue::rct_cpu_relax() }
}

/// `synchronize_net()`: waits for running netfilter hooks (RCU readers).
pub(crate) fn synchronize_net() {
    // SAFETY: called from process context.
    unsafe { glue::rct_synchronize_net() }
}

/// Busy-waits `us` microseconds (in steps of at most 1 ms, `udelay()`'s
/// limit).
pub(crate) fn udelay(mut us: u32) {
    while us > 0 {
        let step = us.min(1000);
        // SAFETY: no precondition; busy-waiting is allowed in any context.
        unsafe { glue::rct_udelay(step) };
        us -= step;
    }
}
