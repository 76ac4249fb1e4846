// SPDX-License-Identifier: GPL-2.0

//! `/proc/net/rconntrack` and `/proc/net/stat/rconntrack`.

use super::glue;
use super::netns::{current_tracker, net_state_of, Net};
use core::ffi::{c_int, c_void};
use core::fmt;
use kernel::bindings;
use kernel::prelude::*;

/// Text output of a proc file.
pub(crate) struct SeqWriter {
    m: *mut bindings::seq_file,
}

impl fmt::Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `m` is the seq_file of the running `show` callback.
        unsafe { bindings::seq_write(self.m, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// Which file.
#[derive(Clone, Copy)]
pub(crate) enum ProcKind {
    /// `/proc/net/rconntrack`: one line per entry.
    Table,
    /// `/proc/net/stat/rconntrack`: per-CPU counters.
    Stat,
}

fn show(m: *mut bindings::seq_file, kind: ProcKind) -> c_int {
    // SAFETY: `m` is a single-open seq_file created for a namespace by
    // `ProcEntry::create()`, which stays alive while the file is open.
    let net = unsafe { glue::rct_seq_net(m) };
    let (Some(t), Some(ns)) = (current_tracker(), net_state_of(net)) else {
        return 0;
    };
    let mut w = SeqWriter { m };
    match kind {
        ProcKind::Table => t.show_table(ns, &mut w),
        ProcKind::Stat => t.show_stat(ns, &mut w),
    }
    0
}

/// # Safety
///
/// Called by the seq_file core with a valid `m`.
unsafe extern "C" fn show_table(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    show(m, ProcKind::Table)
}

/// # Safety
///
/// Called by the seq_file core with a valid `m`.
unsafe extern "C" fn show_stat(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    show(m, ProcKind::Stat)
}

/// A proc file of one namespace.
///
/// # Invariants
///
/// Created for `net`, which outlives `self` (it is kept in the namespace's
/// state, dropped by the namespace's exit callback).
pub(crate) struct ProcEntry {
    net: *mut bindings::net,
    kind: ProcKind,
}

// SAFETY: only used to remove the entry.
unsafe impl Send for ProcEntry {}
// SAFETY: no shared mutable state.
unsafe impl Sync for ProcEntry {}

impl ProcEntry {
    fn name(kind: ProcKind) -> &'static CStr {
        match kind {
            ProcKind::Table | ProcKind::Stat => c"rconntrack",
        }
    }

    /// Creates the file in `net`.
    pub(crate) fn create(net: &Net<'_>, kind: ProcKind) -> Result<Self> {
        let (stat, f): (bool, glue::ShowFn) = match kind {
            ProcKind::Table => (false, show_table),
            ProcKind::Stat => (true, show_stat),
        };
        // SAFETY: live net; static name; `f` matches the seq_file show
        // signature.
        let ret =
            unsafe { glue::rct_proc_create(net.as_ptr(), Self::name(kind).as_char_ptr(), stat, f) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: see the type's documentation.
        Ok(ProcEntry {
            net: net.as_ptr(),
            kind,
        })
    }
}

impl Drop for ProcEntry {
    fn drop(&mut self) {
        let stat = matches!(self.kind, ProcKind::Stat);
        // SAFETY: created in `create()` for this live net; removal waits for
        // open readers to finish their current call.
        unsafe { glue::rct_proc_remove(self.net, Self::name(self.kind).as_char_ptr(), stat) };
    }
}
