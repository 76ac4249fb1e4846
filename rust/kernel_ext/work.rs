// SPDX-License-Identifier: GPL-2.0

//! A self-rearming delayed work item that owns its data.
//!
//! The callback finds its data through the work item (`container_of`), so
//! nothing global points at it; dropping the [`Periodic`] cancels the work
//! and waits for a running callback before the data can go.

use super::glue;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// Work done periodically.
pub(crate) trait PeriodicWork: Send + Sync + 'static {
    /// One run; returns the delay to the next, in jiffies.
    fn run(&self) -> usize;
}

#[repr(C)]
struct Inner<T: PeriodicWork> {
    dwork: Opaque<bindings::delayed_work>,
    data: Arc<T>,
}

/// The work callback.
///
/// # Safety
///
/// `work` is the `work` member of the `delayed_work` of an `Inner<T>`,
/// which stays allocated until `cancel_delayed_work_sync()` returned.
unsafe extern "C" fn run<T: PeriodicWork>(work: *mut bindings::work_struct) {
    // SAFETY: see the function's safety section; `dwork` is the first
    // field of the `repr(C)` `Inner<T>`.
    let inner = unsafe {
        let dw = kernel::container_of!(work, bindings::delayed_work, work);
        &*dw.cast::<Inner<T>>().cast_const()
    };
    let delay = inner.data.run();
    // SAFETY: initialised work item; requeueing from its own callback is
    // allowed and handled by the sync cancel in `Periodic::drop`.
    unsafe { glue::rct_dwork_queue(inner.dwork.get(), delay) };
}

/// A running periodic work item.
///
/// # Invariants
///
/// `inner.dwork` was initialised with `run::<T>` and may be queued; it is
/// not moved (boxed) before `drop` cancels it.
pub(crate) struct Periodic<T: PeriodicWork> {
    inner: KBox<Inner<T>>,
}

// SAFETY: the work item is only touched through the workqueue API, which is
// thread-safe; the data is `Send + Sync`.
unsafe impl<T: PeriodicWork> Send for Periodic<T> {}
// SAFETY: as above; `&Periodic` exposes nothing.
unsafe impl<T: PeriodicWork> Sync for Periodic<T> {}

impl<T: PeriodicWork> Periodic<T> {
    /// Starts running `data` after `delay` jiffies.
    pub(crate) fn start(data: Arc<T>, delay: usize) -> Result<Self> {
        let inner = KBox::new(
            Inner {
                dwork: Opaque::uninit(),
                data,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: boxed (stable) and not queued.
        unsafe { glue::rct_dwork_init(inner.dwork.get(), run::<T>) };
        // SAFETY: initialised above.
        unsafe { glue::rct_dwork_queue(inner.dwork.get(), delay) };
        // INVARIANT: initialised and boxed.
        Ok(Periodic { inner })
    }
}

impl<T: PeriodicWork> Drop for Periodic<T> {
    fn drop(&mut self) {
        // SAFETY: initialised work; the sync cancel handles self-requeueing.
        unsafe { glue::rct_dwork_cancel_sync(self.inner.dwork.get()) };
    }
}
