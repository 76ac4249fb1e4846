// SPDX-License-Identifier: GPL-2.0

//! A per-namespace sysctl table of integers, generic over its callbacks.
//!
//! Every entry goes through one handler: it parses the text with the
//! kernel's `proc_dointvec()` into a local integer (so malformed text,
//! overflow and the like are rejected by the kernel's own parser with
//! `-EINVAL`), then hands the value to [`SysctlOps::write`], which validates
//! it and either applies it or returns an error, leaving the value unchanged.

use core::ffi::{c_int, c_void};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The values behind a table.
pub(crate) trait SysctlOps: Send + Sync + 'static {
    /// The current value of entry `idx`.
    fn read(&self, idx: usize) -> i32;
    /// Validates and applies a written value to entry `idx`.
    fn write(&self, idx: usize, v: i32) -> Result;
}

/// A sysctl entry.
pub(crate) struct SysctlEntry {
    /// File name.
    pub(crate) name: &'static CStr,
    /// Mode in the initial namespace.
    pub(crate) mode_init: u16,
    /// Mode in other namespaces.
    pub(crate) mode_other: u16,
}

/// The `proc_handler` of every entry.
///
/// # Safety
///
/// Called by the sysctl core for an entry built by [`SysctlTable::register`]
/// with `C`, with the core's valid buffer, length and position pointers.
unsafe extern "C" fn handler<C: SysctlOps>(
    table: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: `table` is one of the entries built by `register::<C>()`:
    // `data` is the `Arc<C>` data pointer the table holds and `extra1` the
    // entry's index; the table outlives the registration, and
    // unregistering waits for running handlers.
    let (ops, idx) = unsafe {
        (
            &*(*table).data.cast::<C>().cast_const(),
            (*table).extra1 as usize,
        )
    };
    // A write the parser skips (a non-zero file position, under the default
    // `sysctl_writes_strict`) must not store the value read here.
    // SAFETY: the core's valid position pointer.
    let pos = unsafe { *ppos };
    let mut val: c_int = ops.read(idx);
    // SAFETY: `table` is valid (see above); the copy is only used for this
    // call, pointing at the local value.
    let mut tmp = unsafe { core::ptr::read(table) };
    tmp.data = core::ptr::addr_of_mut!(val).cast();
    tmp.maxlen = core::mem::size_of::<c_int>() as c_int;
    tmp.extra1 = core::ptr::null_mut();
    tmp.extra2 = core::ptr::null_mut();
    // SAFETY: arguments forwarded from the sysctl core; `tmp` is a valid
    // integer entry.
    let ret = unsafe { bindings::proc_dointvec(&tmp, write, buffer, lenp, ppos) };
    if write == 0 || ret < 0 || pos != 0 {
        return ret;
    }
    match ops.write(idx, val) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A registered table.
///
/// # Invariants
///
/// `header` is the registration of `table` (whose entries point to `ops`)
/// in a namespace that outlives `self`.
pub(crate) struct SysctlTable<C: SysctlOps> {
    header: *mut bindings::ctl_table_header,
    _table: KVec<bindings::ctl_table>,
    _ops: Arc<C>,
}

// SAFETY: the header is only used to unregister; `C` is `Send + Sync`.
unsafe impl<C: SysctlOps> Send for SysctlTable<C> {}
// SAFETY: no shared mutable state.
unsafe impl<C: SysctlOps> Sync for SysctlTable<C> {}

impl<C: SysctlOps> SysctlTable<C> {
    /// Registers `entries` under `path` in `net`, answered by `ops`.
    ///
    /// # Safety
    ///
    /// `net` is a live namespace that outlives the result (the pernet
    /// abstraction calls this from a namespace's init and drops the result
    /// in its exit).
    pub(super) unsafe fn register(
        net: *mut bindings::net,
        path: &'static CStr,
        entries: &[SysctlEntry],
        init_ns: bool,
        ops: Arc<C>,
    ) -> Result<Self> {
        let mut table = KVec::with_capacity(entries.len(), GFP_KERNEL)?;
        let data = Arc::as_ptr(&ops).cast_mut().cast::<c_void>();
        for (i, e) in entries.iter().enumerate() {
            table.push(
                bindings::ctl_table {
                    procname: e.name.as_char_ptr(),
                    data,
                    maxlen: core::mem::size_of::<c_int>() as c_int,
                    mode: if init_ns { e.mode_init } else { e.mode_other },
                    proc_handler: Some(handler::<C>),
                    poll: core::ptr::null_mut(),
                    extra1: i as *mut c_void,
                    extra2: core::ptr::null_mut(),
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: `net` is live (function's safety section); `table` holds `len` valid entries
        // in a buffer that stays put (no more pushes) and lives in `self`
        // until unregistered; the path is a static string.
        let header = unsafe {
            bindings::register_net_sysctl_sz(
                net,
                path.as_char_ptr(),
                table.as_mut_ptr(),
                table.len(),
            )
        };
        if header.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: just registered.
        Ok(SysctlTable {
            header,
            _table: table,
            _ops: ops,
        })
    }
}

impl<C: SysctlOps> Drop for SysctlTable<C> {
    fn drop(&mut self) {
        // SAFETY: registered in `register()`; waits for running handlers.
        unsafe { bindings::unregister_net_sysctl_table(self.header) };
    }
}
