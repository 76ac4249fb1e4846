// SPDX-License-Identifier: GPL-2.0

//! Network namespaces, netfilter hooks, the GC work item, and the dispatch
//! from the C glue's callbacks to the tracker.
//!
//! [`Registration`] owns everything that makes C call into Rust: pernet
//! operations (which register the hooks in every namespace), the static
//! `nf_hook_ops` array, and the delayed work. While it lives, the tracker is
//! reachable from those callbacks; dropping it unregisters them all and
//! waits for running ones before the tracker can go away.

use super::glue;
use super::skb::Skb;
use crate::tracker::{NetState, Tracker};
use core::ffi::{c_int, c_uint, c_void};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// Netfilter hook numbers (`enum nf_inet_hooks`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hook {
    /// `NF_INET_PRE_ROUTING`.
    PreRouting = 0,
    /// `NF_INET_LOCAL_IN`.
    LocalIn = 1,
    /// `NF_INET_FORWARD`.
    Forward = 2,
    /// `NF_INET_LOCAL_OUT`.
    LocalOut = 3,
    /// `NF_INET_POST_ROUTING`.
    PostRouting = 4,
}

impl Hook {
    fn from_raw(v: c_uint) -> Option<Hook> {
        Some(match v {
            0 => Hook::PreRouting,
            1 => Hook::LocalIn,
            2 => Hook::Forward,
            3 => Hook::LocalOut,
            4 => Hook::PostRouting,
            _ => return None,
        })
    }
}

/// What a hook tells netfilter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Verdict {
    /// `NF_ACCEPT`.
    Accept,
    /// `NF_DROP`.
    Drop,
}

/// One hook registration: family, hook point, priority.
pub(crate) struct HookSpec {
    /// `NFPROTO_*`.
    pub(crate) pf: u8,
    /// Hook point.
    pub(crate) hook: Hook,
    /// Priority (lower runs first).
    pub(crate) priority: i32,
}

/// A network namespace, valid for the duration of a callback.
///
/// # Invariants
///
/// `0` points to a live `struct net` for `'a`.
pub(crate) struct Net<'a>(NonNull<bindings::net>, core::marker::PhantomData<&'a ()>);

impl Net<'_> {
    /// Whether this is the initial namespace.
    pub(crate) fn is_init(&self) -> bool {
        // SAFETY: live net (invariant).
        unsafe { glue::rct_net_is_init(self.0.as_ptr()) }
    }

    /// The namespace's inode number (unique while it lives).
    pub(crate) fn inum(&self) -> u32 {
        // SAFETY: live net (invariant).
        unsafe { glue::rct_net_inum(self.0.as_ptr()) }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::net {
        self.0.as_ptr()
    }
}

static TRACKER: AtomicPtr<Tracker> = AtomicPtr::new(core::ptr::null_mut());
static OPS: AtomicPtr<glue::NfHookOps> = AtomicPtr::new(core::ptr::null_mut());
static NOPS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// The registered tracker.
///
/// Only called from callbacks that `Registration` registers and whose
/// unregistration waits for them, so the tracker outlives the call.
fn tracker<'a>() -> Option<&'a Tracker> {
    let p = TRACKER.load(Ordering::Acquire);
    // SAFETY: non-null only between `Registration::new()` and its drop,
    // which unregisters every callback (waiting for running ones) before
    // clearing it and releasing the `Arc`.
    unsafe { p.as_ref() }
}

/// The per-namespace state of `net`, if initialised.
fn net_state<'a>(net: *mut bindings::net) -> Option<&'a NetState> {
    // SAFETY: `net` is live during the callback; its slot holds null or a
    // `KBox<NetState>` pointer set by `rct_rust_net_init()` and cleared in
    // `rct_rust_net_exit()` after every user is unregistered.
    unsafe {
        let slot = glue::rct_net_slot(net);
        (*slot).cast::<NetState>().as_ref()
    }
}

/// Keeps the pernet operations, hooks and GC work registered.
pub(crate) struct Registration {
    tracker: Arc<Tracker>,
    work: KBox<Opaque<bindings::delayed_work>>,
}

// SAFETY: the work item is only touched through the workqueue API, which is
// thread-safe; the rest is an `Arc`.
unsafe impl Send for Registration {}
// SAFETY: as above; `&Registration` exposes nothing mutable.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers `tracker` for every current and future namespace with the
    /// given hooks, and starts its GC work.
    pub(crate) fn new(tracker: Arc<Tracker>, hooks: &[HookSpec]) -> Result<Self> {
        let n = hooks.len() as u32;
        // SAFETY: plain allocation.
        let ops = unsafe { glue::rct_nf_ops_alloc(n) };
        if ops.is_null() {
            return Err(ENOMEM);
        }
        for (i, h) in hooks.iter().enumerate() {
            // SAFETY: `ops` has `n` elements and `i < n`.
            unsafe { glue::rct_nf_ops_set(ops, i as u32, h.pf, h.hook as u32, h.priority) };
        }
        OPS.store(ops, Ordering::Release);
        NOPS.store(n, Ordering::Release);
        TRACKER.store(Arc::as_ptr(&tracker).cast_mut(), Ordering::Release);

        let work = match KBox::new(Opaque::<bindings::delayed_work>::uninit(), GFP_KERNEL) {
            Ok(w) => w,
            Err(e) => {
                Self::clear();
                return Err(e.into());
            }
        };
        // SAFETY: `work` is boxed (stable) and not queued.
        unsafe { glue::rct_dwork_init(work.get()) };

        // SAFETY: the callbacks it installs find everything set up above.
        let ret = unsafe { glue::rct_pernet_register() };
        if ret < 0 {
            Self::clear();
            return Err(Error::from_errno(ret));
        }
        let reg = Registration { tracker, work };
        reg.queue_work(1);
        Ok(reg)
    }

    /// Schedules the work item after `delay` jiffies.
    fn queue_work(&self, delay: usize) {
        // SAFETY: initialised work item in a stable allocation.
        unsafe { glue::rct_dwork_queue(self.work.get(), delay) };
    }

    fn clear() {
        TRACKER.store(core::ptr::null_mut(), Ordering::Release);
        let ops = OPS.swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: allocated by `rct_nf_ops_alloc()` (kcalloc), no longer
        // registered anywhere.
        unsafe { bindings::kfree(ops.cast()) };
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Runs `rct_rust_net_exit()` for every namespace: hooks, /proc and
        // sysctl entries are gone (and idle) when this returns.
        // SAFETY: registered in `new()`.
        unsafe { glue::rct_pernet_unregister() };
        // SAFETY: initialised work; the sync cancel handles self-requeueing.
        unsafe { glue::rct_dwork_cancel_sync(self.work.get()) };
        Self::clear();
        let _ = &self.tracker;
    }
}

#[no_mangle]
extern "C" fn rct_rust_hook(
    _priv: *mut c_void,
    skb: *mut bindings::sk_buff,
    net: *mut bindings::net,
    hooknum: c_uint,
    pf: u8,
) -> c_uint {
    const NF_DROP: c_uint = 0;
    const NF_ACCEPT: c_uint = 1;
    let (Some(t), Some(ns), Some(hook)) = (tracker(), net_state(net), Hook::from_raw(hooknum))
    else {
        return NF_ACCEPT;
    };
    // SAFETY: netfilter passes a valid skb that lives until we return.
    let skb = unsafe { Skb::from_raw(skb) };
    match t.hook(ns, &skb, hook, pf) {
        Verdict::Accept => NF_ACCEPT,
        Verdict::Drop => NF_DROP,
    }
}

#[no_mangle]
extern "C" fn rct_rust_net_init(net: *mut bindings::net) -> c_int {
    let Some(t) = tracker() else {
        return ENOENT.to_errno();
    };
    let Some(nn) = NonNull::new(net) else {
        return EINVAL.to_errno();
    };
    // INVARIANT: the pernet init callback gets a live net.
    let n = Net(nn, core::marker::PhantomData);
    let state = match t.net_init(&n) {
        Ok(s) => s,
        Err(e) => return e.to_errno(),
    };
    let raw = KBox::into_raw(state);
    // SAFETY: the slot belongs to this module and this net, and is free.
    unsafe { *glue::rct_net_slot(net) = raw.cast() };
    let ops = OPS.load(Ordering::Acquire);
    // SAFETY: `ops` holds `NOPS` initialised entries for the module's life.
    let ret = unsafe { glue::rct_nf_register(net, ops, NOPS.load(Ordering::Acquire)) };
    if ret < 0 {
        // SAFETY: undo the slot assignment; no hook was registered.
        let state = unsafe {
            *glue::rct_net_slot(net) = core::ptr::null_mut();
            KBox::from_raw(raw)
        };
        t.net_exit(&n, state);
        return ret;
    }
    0
}

#[no_mangle]
extern "C" fn rct_rust_net_exit(net: *mut bindings::net) {
    let Some(nn) = NonNull::new(net) else {
        return;
    };
    // INVARIANT: the pernet exit callback gets a live net.
    let n = Net(nn, core::marker::PhantomData);
    // SAFETY: registered in `rct_rust_net_init()`; unregistering waits for
    // running hooks (synchronize_net).
    unsafe {
        glue::rct_nf_unregister(
            net,
            OPS.load(Ordering::Acquire),
            NOPS.load(Ordering::Acquire),
        )
    };
    // SAFETY: the slot holds the `KBox<NetState>` set in init (or null if
    // init failed); no hook can read it any more.
    let raw = unsafe {
        let slot = glue::rct_net_slot(net);
        let raw = (*slot).cast::<NetState>();
        *slot = core::ptr::null_mut();
        raw
    };
    if raw.is_null() {
        return;
    }
    // SAFETY: from `KBox::into_raw()` in init, now exclusively ours.
    let state = unsafe { KBox::from_raw(raw) };
    if let Some(t) = tracker() {
        t.net_exit(&n, state);
    }
}

#[no_mangle]
extern "C" fn rct_rust_work(work: *mut bindings::work_struct) {
    let Some(t) = tracker() else {
        return;
    };
    let delay = t.gc();
    // SAFETY: `work` is the `work` member of the registration's delayed
    // work, which stays allocated until `cancel_delayed_work_sync()` in
    // `Registration::drop()` returns; requeueing from the callback is
    // allowed and handled by that cancel.
    unsafe {
        let dw = kernel::container_of!(work, bindings::delayed_work, work);
        glue::rct_dwork_queue(dw, delay);
    }
}

/// Gives `Net` to the sysctl and procfs abstractions.
pub(super) fn net_state_of<'a>(net: *mut bindings::net) -> Option<&'a NetState> {
    net_state(net)
}

/// Gives the tracker to the sysctl and procfs abstractions.
pub(super) fn current_tracker<'a>() -> Option<&'a Tracker> {
    tracker()
}
