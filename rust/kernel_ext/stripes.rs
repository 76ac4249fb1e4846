// SPDX-License-Identifier: GPL-2.0

//! Lock striping: a fixed array of spinlocks chosen by hash, taken with
//! bottom halves disabled.
//!
//! * Two stripes are always taken lower index first (the
//!   `nf_conntrack_double_lock` rule), so two CPUs locking the two
//!   directions of connections in opposite orders cannot deadlock (no ABBA).
//! * Excluding every stripe at once (a resize) follows
//!   `nf_conntrack_all_lock()`: the excluder takes an outer lock, raises a
//!   flag, and takes and releases each stripe once, so that everybody who
//!   held one has left; lockers that see the flag queue on the outer lock.
//!   At most two stripes and the outer lock are ever held by one CPU. Holding
//!   all 1024 at once, as an earlier version did, adds 1024 to the 8-bit
//!   preempt count of a `CONFIG_PREEMPT_COUNT` kernel and overflows it into
//!   the softirq bits.
//!
//! Guards release on drop, in reverse order, and are not `Send`: a spinlock
//! is released on the CPU (and in the context) that took it.

use super::glue;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The stripes.
///
/// # Invariants
///
/// Every lock in `locks` and `outer` was initialised with `spin_lock_init()`
/// and neither allocation moves or is freed before `self` is dropped.
/// `all` is true only while an [`AllGuard`] holds `outer`.
pub(crate) struct Stripes {
    locks: KVec<Opaque<bindings::spinlock_t>>,
    outer: KBox<Opaque<bindings::spinlock_t>>,
    all: AtomicBool,
}

// SAFETY: spinlocks are designed to be shared between CPUs; `all` is atomic.
unsafe impl Send for Stripes {}
// SAFETY: as above.
unsafe impl Sync for Stripes {}

impl Stripes {
    /// Creates `n` stripes (at least one).
    pub(crate) fn new(n: usize) -> Result<Self> {
        let n = n.max(1);
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
        Ok(Self {
            locks,
            outer,
            all: AtomicBool::new(false),
        })
    }

    /// Number of stripes.
    pub(crate) fn len(&self) -> usize {
        self.locks.len()
    }

    /// The stripe covering bucket `bucket`.
    pub(crate) fn index(&self, bucket: u32) -> usize {
        // No panic path: there is at least one stripe (invariant of `new`).
        (bucket as usize).checked_rem(self.locks.len()).unwrap_or(0)
    }

    fn lock_ptr(&self, i: usize) -> *mut bindings::spinlock_t {
        let i = i.checked_rem(self.locks.len()).unwrap_or(0);
        // `i` is in range (at least one stripe); the outer lock stands in
        // only to avoid a panic path, and is never reached.
        self.locks.get(i).map_or(self.outer.get(), |l| l.get())
    }

    /// `nf_conntrack_lock()`: takes stripe `l` unless an all-lock is under
    /// way, in which case it waits for it on the outer lock.
    ///
    /// # Safety
    ///
    /// Bottom halves are disabled; `l` is one of `self.locks`.
    unsafe fn lock_one(&self, l: *mut bindings::spinlock_t) {
        // SAFETY: initialised spinlock (invariant).
        unsafe { glue::rct_spin_lock(l) };
        // Pairs with the release store in `AllGuard::drop()`: seeing `false`
        // means every all-lock critical section before it is visible.
        if !self.all.load(Ordering::Acquire) {
            return;
        }
        // An all-lock holder is waiting for (or past) this stripe: queue
        // behind it on the outer lock, then take the stripe.
        // SAFETY: taken just above by this CPU.
        unsafe { glue::rct_spin_unlock(l) };
        // SAFETY: initialised spinlocks; outer before stripe is the order
        // `lock_all()` uses too.
        unsafe {
            glue::rct_spin_lock(self.outer.get());
            glue::rct_spin_lock(l);
            glue::rct_spin_unlock(self.outer.get());
        }
    }

    /// Locks two stripes, lower index first; one lock if they are equal.
    pub(crate) fn lock2(&self, a: usize, b: usize) -> StripeGuard<'_> {
        let n = self.locks.len();
        let (a, b) = (a.checked_rem(n).unwrap_or(0), b.checked_rem(n).unwrap_or(0));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let first = self.lock_ptr(lo);
        // SAFETY: plain `local_bh_disable()`, undone by the guard's drop.
        unsafe { glue::rct_local_bh_disable() };
        // SAFETY: bottom halves disabled just above; `first` is a stripe.
        unsafe { self.lock_one(first) };
        let second = if hi != lo {
            let l = self.lock_ptr(hi);
            // SAFETY: initialised spinlock of the same class, taken after a
            // lower-indexed one (annotated as nested for lockdep). No
            // all-lock check is needed: an all-lock holder walks the stripes
            // in index order and cannot pass `first`, which we hold.
            unsafe { glue::rct_spin_lock_nested(l) };
            Some(l)
        } else {
            None
        };
        StripeGuard {
            first,
            second,
            _s: PhantomData,
        }
    }

    /// Locks stripe `i` alone, without waiting for an all-lock: for data
    /// that an all-lock holder (a resize) does not touch. Never held with
    /// another stripe.
    pub(crate) fn lock_plain(&self, i: usize) -> StripeGuard<'_> {
        let l = self.lock_ptr(i);
        // SAFETY: plain `local_bh_disable()`, undone by the guard's drop.
        unsafe { glue::rct_local_bh_disable() };
        // SAFETY: initialised spinlock (invariant), bottom halves disabled.
        unsafe { glue::rct_spin_lock(l) };
        StripeGuard {
            first: l,
            second: None,
            _s: PhantomData,
        }
    }

    /// Excludes every stripe holder (resizing) without holding them all.
    pub(crate) fn lock_all(&self) -> AllGuard<'_> {
        // SAFETY: plain `local_bh_disable()`, undone by the guard's drop.
        unsafe { glue::rct_local_bh_disable() };
        // SAFETY: initialised spinlock (invariant).
        unsafe { glue::rct_spin_lock(self.outer.get()) };
        // INVARIANT: `all` is set only while `outer` is held.
        self.all.store(true, Ordering::Relaxed);
        for l in self.locks.iter() {
            // SAFETY: initialised spinlock; the unlock "releases" the flag
            // to every later holder of this stripe, and waiting for the lock
            // waits for the current holder to leave.
            unsafe {
                glue::rct_spin_lock(l.get());
                glue::rct_spin_unlock(l.get());
            }
        }
        AllGuard {
            s: self,
            _not_send: PhantomData,
        }
    }
}

/// One or two held stripes (bottom halves disabled).
pub(crate) struct StripeGuard<'a> {
    first: *mut bindings::spinlock_t,
    second: Option<*mut bindings::spinlock_t>,
    // The raw pointers already make the guard `!Send` and `!Sync`.
    _s: PhantomData<&'a Stripes>,
}

impl Drop for StripeGuard<'_> {
    fn drop(&mut self) {
        if let Some(l) = self.second {
            // SAFETY: taken in `lock2()` by this guard.
            unsafe { glue::rct_spin_unlock(l) };
        }
        // SAFETY: taken in `lock2()` or `lock_plain()` by this guard, with
        // bottom halves disabled there.
        unsafe {
            glue::rct_spin_unlock(self.first);
            glue::rct_local_bh_enable();
        }
    }
}

/// No stripe is held by anyone else while this lives.
pub(crate) struct AllGuard<'a> {
    s: &'a Stripes,
    _not_send: PhantomData<*mut ()>,
}

impl Drop for AllGuard<'_> {
    fn drop(&mut self) {
        // Pairs with the acquire load in `lock_one()`: everything written
        // under this guard is visible to whoever sees `false`.
        self.s.all.store(false, Ordering::Release);
        // SAFETY: taken in `lock_all()` by this guard, with bottom halves
        // disabled there.
        unsafe {
            glue::rct_spin_unlock(self.s.outer.get());
            glue::rct_local_bh_enable();
        }
    }
}
