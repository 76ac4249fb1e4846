// SPDX-License-Identifier: GPL-2.0

//! Lock striping: a fixed array of bottom-half spinlocks chosen by hash.
//!
//! Two stripes are always taken lower index first (the
//! `nf_conntrack_double_lock` rule), so two CPUs locking the two directions
//! of connections in opposite orders cannot deadlock (no ABBA). Guards
//! release on drop, in reverse order.

use super::glue;
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The stripes.
///
/// # Invariants
///
/// Every lock in `locks` and `outer` was initialised with `spin_lock_init()`
/// and neither allocation moves or is freed before `self` is dropped.
pub(crate) struct Stripes {
    locks: KVec<Opaque<bindings::spinlock_t>>,
    outer: KBox<Opaque<bindings::spinlock_t>>,
}

// SAFETY: spinlocks are designed to be shared between CPUs.
unsafe impl Send for Stripes {}
// SAFETY: as above.
unsafe impl Sync for Stripes {}

impl Stripes {
    /// Creates `n` stripes.
    pub(crate) fn new(n: usize) -> Result<Self> {
        let mut locks = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            locks.push(Opaque::uninit(), GFP_KERNEL)?;
        }
        for l in locks.iter() {
            // SAFETY: `l` points to memory for a spinlock that is not in use;
            // the vector never reallocates after this (no more pushes).
            unsafe { glue::rct_spin_init(l.get()) };
        }
        let outer = KBox::new(Opaque::uninit(), GFP_KERNEL)?;
        // SAFETY: as above, for the boxed lock.
        unsafe { glue::rct_spin_init_outer(outer.get()) };
        // INVARIANT: all locks initialised above, allocations fixed.
        Ok(Self { locks, outer })
    }

    /// Number of stripes.
    pub(crate) fn len(&self) -> usize {
        self.locks.len()
    }

    /// The stripe covering bucket `bucket`.
    pub(crate) fn index(&self, bucket: u32) -> usize {
        bucket as usize % self.locks.len()
    }

    /// Locks two stripes, lower index first; one lock if they are equal.
    pub(crate) fn lock2(&self, a: usize, b: usize) -> StripeGuard<'_> {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let first = self.locks[lo].get();
        // SAFETY: initialised spinlock (invariant).
        unsafe { glue::rct_spin_lock_bh(first) };
        let second = if hi != lo {
            let l = self.locks[hi].get();
            // SAFETY: initialised spinlock of the same class, taken after a
            // lower-indexed one: annotated as nested for lockdep.
            unsafe { glue::rct_spin_lock_nested(l) };
            Some(l)
        } else {
            None
        };
        StripeGuard {
            first,
            second,
            _s: self,
        }
    }

    /// Locks every stripe (resizing), under the outer lock.
    pub(crate) fn lock_all(&self) -> AllGuard<'_> {
        let outer = self.outer.get();
        // SAFETY: initialised spinlock (invariant).
        unsafe { glue::rct_spin_lock_bh(outer) };
        for l in self.locks.iter() {
            // SAFETY: initialised spinlocks, all taken in index order under
            // `outer`, which lockdep is told through `spin_lock_nest_lock()`.
            unsafe { glue::rct_spin_lock_nest_lock(l.get(), outer) };
        }
        AllGuard { s: self }
    }
}

/// One or two held stripes.
pub(crate) struct StripeGuard<'a> {
    first: *mut bindings::spinlock_t,
    second: Option<*mut bindings::spinlock_t>,
    _s: &'a Stripes,
}

impl Drop for StripeGuard<'_> {
    fn drop(&mut self) {
        if let Some(l) = self.second {
            // SAFETY: taken in `lock2()` by this guard.
            unsafe { glue::rct_spin_unlock(l) };
        }
        // SAFETY: taken with `spin_lock_bh()` by this guard.
        unsafe { glue::rct_spin_unlock_bh(self.first) };
    }
}

/// All stripes held.
pub(crate) struct AllGuard<'a> {
    s: &'a Stripes,
}

impl Drop for AllGuard<'_> {
    fn drop(&mut self) {
        for l in self.s.locks.iter().rev() {
            // SAFETY: taken in `lock_all()` by this guard.
            unsafe { glue::rct_spin_unlock(l.get()) };
        }
        // SAFETY: taken with `spin_lock_bh()` in `lock_all()`.
        unsafe { glue::rct_spin_unlock_bh(self.s.outer.get()) };
    }
}
