// SPDX-License-Identifier: GPL-2.0

//! `net.rconntrack.*` sysctls.
//!
//! Every entry goes through one handler: it parses the text with the
//! kernel's `proc_dointvec()` into a local integer (so malformed text,
//! overflow and the like are rejected by the kernel's own parser with
//! `-EINVAL`), then hands the value to the entry's [`Knob`], which validates
//! it and either applies it or returns an error, leaving the value unchanged.

use super::netns::{current_tracker, net_state_of, Net};
use crate::tracker::{NetState, Tracker};
use core::ffi::{c_int, c_void};
use kernel::bindings;
use kernel::prelude::*;

/// One sysctl value.
pub(crate) trait Knob: Sync {
    /// The current value in this namespace.
    fn read(&self, t: &Tracker, ns: &NetState) -> i32;
    /// Validates and applies a written value.
    fn write(&self, t: &Tracker, ns: &NetState, v: i32) -> Result;
}

/// A sysctl entry: its name, behaviour, and whether it is writable.
pub(crate) struct KnobSpec {
    /// File name under `/proc/sys/net/rconntrack`.
    pub(crate) name: &'static CStr,
    /// Behaviour.
    pub(crate) knob: &'static dyn Knob,
    /// Writable (in namespaces where the tracker allows it).
    pub(crate) writable: bool,
}

/// The `proc_handler` of every entry.
///
/// # Safety
///
/// Called by the sysctl core for an entry built by [`SysctlTable::register`],
/// with the core's valid buffer, length and position pointers.
unsafe extern "C" fn handler(
    table: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: `table` is one of the entries built by `SysctlTable::register`:
    // `data` points to a `&'static dyn Knob` in its `refs` vector and `extra1`
    // to the namespace it was registered for, both alive while the table is
    // registered (unregistering waits for running handlers).
    let (knob, net) = unsafe {
        (
            *((*table).data as *const &'static dyn Knob),
            (*table).extra1.cast::<bindings::net>(),
        )
    };
    let (Some(t), Some(ns)) = (current_tracker(), net_state_of(net)) else {
        return ENOENT.to_errno();
    };
    let mut val: c_int = knob.read(t, ns);
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
    if write == 0 || ret < 0 {
        return ret;
    }
    match knob.write(t, ns, val) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A registered table.
///
/// # Invariants
///
/// `header` is the registration of `table` (whose entries point into
/// `refs`) for a namespace that outlives `self`.
pub(crate) struct SysctlTable {
    header: *mut bindings::ctl_table_header,
    _table: KVec<bindings::ctl_table>,
    _refs: KVec<&'static dyn Knob>,
}

// SAFETY: the header is only used to unregister.
unsafe impl Send for SysctlTable {}
// SAFETY: no shared mutable state.
unsafe impl Sync for SysctlTable {}

impl SysctlTable {
    /// Registers `knobs` under `net/rconntrack` in `net`; entries not
    /// `writable`, or every entry when `read_only`, are mode 0444.
    ///
    /// The caller keeps the result in its per-namespace state, which is
    /// dropped in the namespace's exit callback, before the namespace goes.
    pub(crate) fn register(net: &Net<'_>, knobs: &[KnobSpec], read_only: bool) -> Result<Self> {
        let mut refs = KVec::with_capacity(knobs.len(), GFP_KERNEL)?;
        for k in knobs {
            refs.push(k.knob, GFP_KERNEL)?;
        }
        let mut table = KVec::with_capacity(knobs.len(), GFP_KERNEL)?;
        for (k, r) in knobs.iter().zip(refs.iter()) {
            let writable = k.writable && !read_only;
            table.push(
                bindings::ctl_table {
                    procname: k.name.as_char_ptr(),
                    data: core::ptr::from_ref::<&'static dyn Knob>(r)
                        .cast_mut()
                        .cast(),
                    maxlen: core::mem::size_of::<c_int>() as c_int,
                    mode: if writable { 0o644 } else { 0o444 },
                    proc_handler: Some(handler),
                    poll: core::ptr::null_mut(),
                    extra1: net.as_ptr().cast(),
                    extra2: core::ptr::null_mut(),
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: `table` holds `len` valid entries in a buffer that stays
        // put (no more pushes) and lives in `self` until unregistered; the
        // path is a static string.
        let header = unsafe {
            bindings::register_net_sysctl_sz(
                net.as_ptr(),
                c"net/rconntrack".as_char_ptr(),
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
            _refs: refs,
        })
    }
}

impl Drop for SysctlTable {
    fn drop(&mut self) {
        // SAFETY: registered in `register()`; waits for running handlers.
        unsafe { bindings::unregister_net_sysctl_table(self.header) };
    }
}
