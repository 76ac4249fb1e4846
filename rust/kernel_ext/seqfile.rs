// SPDX-License-Identifier: GPL-2.0

//! `/proc/net` files as `seq_operations` over numbered records.
//!
//! A file is a sequence of records `0..records()`, each shown in one call
//! (for a hash table: one bucket). The seq_file core then fills one buffer
//! per `read()` and resumes at the next record, instead of walking
//! everything in one `show()` and starting over with a doubled buffer each
//! time it overflows (which `single_open` does: a 1M-entry table would be
//! walked ~17 times into a ~256 MiB buffer).

use super::glue;
use core::ffi::{c_int, c_void};
use core::fmt;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The records of a file.
pub(crate) trait SeqRecords: Send + Sync + 'static {
    /// Number of records in file `file` now.
    fn records(&self, file: usize) -> u32;
    /// Writes record `rec` of file `file`.
    fn show(&self, file: usize, rec: u32, w: &mut SeqWriter);
}

/// Text output of a `show` call.
///
/// # Invariants
///
/// `m` is the seq_file of the running `show` callback.
pub(crate) struct SeqWriter {
    m: *mut bindings::seq_file,
}

impl fmt::Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `m` is the seq_file of the running `show` (invariant).
        unsafe { bindings::seq_write(self.m, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// What the proc entry's data points to.
struct FileCtx<C: SeqRecords> {
    ops: Arc<C>,
    file: usize,
}

/// The context of a seq_file opened on a file created by [`ProcFile`].
///
/// # Safety
///
/// `m` belongs to a file created by `ProcFile::<C>::create`, which is not
/// removed while its callbacks run.
unsafe fn ctx<'a, C: SeqRecords>(m: *mut bindings::seq_file) -> &'a FileCtx<C> {
    // SAFETY: the proc entry's data is the `FileCtx<C>` boxed in the
    // `ProcFile`, alive until `remove_proc_entry()` returned.
    unsafe { &*glue::rct_seq_data(m).cast::<FileCtx<C>>() }
}

/// Record `*pos` as a seq_file token (`rec + 1`: null ends the file).
///
/// # Safety
///
/// As [`ctx`]; `pos` is the core's valid position pointer.
unsafe fn token<C: SeqRecords>(
    m: *mut bindings::seq_file,
    pos: *mut bindings::loff_t,
) -> *mut c_void {
    // SAFETY: see the function's safety section.
    let (c, p) = unsafe { (ctx::<C>(m), *pos) };
    let n = c.ops.records(c.file);
    match u32::try_from(p) {
        Ok(rec) if rec < n => (rec as usize + 1) as *mut c_void,
        _ => core::ptr::null_mut(),
    }
}

/// # Safety
///
/// Called by the seq_file core for a file of `ProcFile::<C>::create`.
unsafe extern "C" fn start<C: SeqRecords>(
    m: *mut bindings::seq_file,
    pos: *mut bindings::loff_t,
) -> *mut c_void {
    // SAFETY: forwarded from the seq_file core.
    unsafe { token::<C>(m, pos) }
}

/// # Safety
///
/// Called by the seq_file core for a file of `ProcFile::<C>::create`.
unsafe extern "C" fn next<C: SeqRecords>(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
    pos: *mut bindings::loff_t,
) -> *mut c_void {
    // SAFETY: the core's position pointer.
    let p = unsafe {
        *pos += 1;
        *pos
    };
    // Empty records print nothing, so one read() may step over many of
    // them: the core holds only the file's mutex here.
    if p as u32 & 1023 == 0 {
        super::sys::cond_resched();
    }
    // SAFETY: forwarded from the seq_file core.
    unsafe { token::<C>(m, pos) }
}

/// # Safety
///
/// Called by the seq_file core.
unsafe extern "C" fn stop(_m: *mut bindings::seq_file, _v: *mut c_void) {}

/// # Safety
///
/// Called by the seq_file core for a file of `ProcFile::<C>::create`, with
/// a token returned by `start`/`next`.
unsafe extern "C" fn show<C: SeqRecords>(m: *mut bindings::seq_file, v: *mut c_void) -> c_int {
    // SAFETY: see the function's safety section.
    let c = unsafe { ctx::<C>(m) };
    let rec = (v as usize).wrapping_sub(1) as u32;
    // INVARIANT: `m` is the seq_file of this `show` call.
    let mut w = SeqWriter { m };
    c.ops.show(c.file, rec, &mut w);
    0
}

/// A proc file of one namespace.
///
/// # Invariants
///
/// `pde` was created in a namespace that outlives `self`, with `ops` (whose
/// callbacks read `ctx`) as its seq_operations.
pub(crate) struct ProcFile<C: SeqRecords> {
    pde: *mut bindings::proc_dir_entry,
    ops: *mut glue::SeqOps,
    _ctx: KBox<FileCtx<C>>,
}

// SAFETY: the pointers are only used to remove the file; `C` is
// `Send + Sync`.
unsafe impl<C: SeqRecords> Send for ProcFile<C> {}
// SAFETY: no shared mutable state.
unsafe impl<C: SeqRecords> Sync for ProcFile<C> {}

impl<C: SeqRecords> ProcFile<C> {
    /// Creates `/proc/net/[stat/]name` in `net`, showing file `file` of
    /// `ops`.
    ///
    /// # Safety
    ///
    /// `net` is a live namespace that outlives the result (the pernet
    /// abstraction calls this from a namespace's init and drops the result
    /// in its exit).
    pub(super) unsafe fn create(
        net: *mut bindings::net,
        name: &'static CStr,
        stat: bool,
        mode: u16,
        file: usize,
        ops: Arc<C>,
    ) -> Result<Self> {
        let ctx = KBox::new(FileCtx { ops, file }, GFP_KERNEL)?;
        // SAFETY: plain allocation of a seq_operations with these callbacks.
        let sops = unsafe { glue::rct_seq_ops_alloc(start::<C>, stop, next::<C>, show::<C>) };
        if sops.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: live net (function's safety section); static name; `sops` and `ctx` stay
        // allocated until the entry is removed in `drop`.
        let pde = unsafe {
            glue::rct_proc_create_seq(
                net,
                name.as_char_ptr(),
                stat,
                mode,
                sops,
                core::ptr::from_ref::<FileCtx<C>>(&ctx).cast_mut().cast(),
            )
        };
        if pde.is_null() {
            // SAFETY: allocated above, never used.
            unsafe { bindings::kfree(sops.cast()) };
            return Err(ENOMEM);
        }
        // INVARIANT: just created.
        Ok(ProcFile {
            pde,
            ops: sops,
            _ctx: ctx,
        })
    }
}

impl<C: SeqRecords> Drop for ProcFile<C> {
    fn drop(&mut self) {
        // SAFETY: created in `create()`; `proc_remove()` waits for running
        // callbacks and closes every open file, after which neither the
        // seq_operations nor the context is used.
        unsafe {
            glue::rct_proc_remove(self.pde);
            bindings::kfree(self.ops.cast());
        }
    }
}
