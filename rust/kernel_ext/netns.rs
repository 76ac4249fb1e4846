// SPDX-License-Identifier: GPL-2.0

//! Per-namespace netfilter users: pernet operations, hooks, sysctls and
//! `/proc/net` files, with their teardown order encoded once.
//!
//! A user implements [`NetfilterNs`]: what to build for a namespace
//! ([`NetfilterNs::init`]), what each hook does, what its sysctls and proc
//! files show, and what to do when the namespace goes. [`Registration`]
//! owns every C object that calls into the user and tears them down in the
//! only safe order:
//!
//! 1. `init`: the user's state, then its sysctl table, its proc files, and
//!    last its hooks (whose `nf_hook_ops.priv` points to the state);
//! 2. `pre_exit`: the hooks are unregistered. `nf_unregister_net_hooks()`
//!    does not wait for hooks running on other CPUs; the pernet core runs
//!    `synchronize_rcu()` between `pre_exit` and `exit`, and hooks run under
//!    `rcu_read_lock()`, so none is left when
//! 3. `exit` runs [`NetfilterNs::exit`] (which may empty tables: nothing can
//!    add to them any more), removes the proc files and the sysctl table
//!    (both wait for running readers) and frees the state.
//!
//! Readers of the state (hooks, sysctl handlers, seq_file callbacks) hold
//! `Arc`s or are waited for before the state goes, so the drop order of the
//! user's fields does not matter.
//!
//! The pernet core gives `init`/`pre_exit`/`exit` nothing but the `struct
//! net`, and a module has one `pernet_operations` object: the one context
//! pointer this needs is the registration's [`Anchor`] (type-erased, set
//! only while a registration exists; a second registration is refused with
//! `EBUSY`). Everything else reaches its data through its own C object:
//! hooks through `priv`, sysctls through `ctl_table.data`, proc files through
//! the proc entry's data.

use super::glue;
use super::seqfile::{self, ProcFile, SeqWriter};
use super::skb::Skb;
use super::sysctl::{SysctlEntry, SysctlTable};
use core::ffi::{c_int, c_uint, c_void};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::Arc;

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

/// A `/proc/net` file of every namespace.
pub(crate) struct ProcSpec {
    /// File name.
    pub(crate) name: &'static CStr,
    /// In `/proc/net/stat` rather than `/proc/net`.
    pub(crate) stat: bool,
    /// File mode.
    pub(crate) mode: u16,
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
}

/// A user of per-namespace netfilter hooks.
pub(crate) trait NetfilterNs: Send + Sync + Sized + 'static {
    /// Per-namespace state.
    type State: Send + Sync + 'static;
    /// Hooks registered in every namespace.
    const HOOKS: &'static [HookSpec];
    /// Sysctl directory (`net/<name>`).
    const SYSCTL_PATH: &'static CStr;
    /// Sysctl entries, answered by [`NetfilterNs::sysctl_read`] and
    /// [`NetfilterNs::sysctl_write`] with their index.
    const SYSCTLS: &'static [SysctlEntry];
    /// Proc files, shown record by record by [`NetfilterNs::show`].
    const FILES: &'static [ProcSpec];
    /// Whether the hooks see reassembled packets: IPv4 and IPv6
    /// defragmentation (`nf_defrag_ipv4/6`, priority -400) is enabled in
    /// every namespace before the hooks are registered, and disabled after
    /// they go, as nf_conntrack does.
    const DEFRAG: bool = false;

    /// Builds the state of a new namespace.
    fn init(this: &Arc<Self>, net: &Net<'_>) -> Result<Self::State>;
    /// A packet at one of [`NetfilterNs::HOOKS`] (softirq or process
    /// context, RCU read lock held). `loopback_in`: the packet entered on a
    /// loopback device (the hook state's `in` has `IFF_LOOPBACK`; false at
    /// LOCAL_OUT and POST_ROUTING, which have no input device).
    fn hook(state: &Self::State, skb: &Skb<'_>, hook: Hook, pf: u8, loopback_in: bool) -> Verdict;
    /// The namespace goes: its hooks are unregistered and idle.
    fn exit(state: &Self::State);
    /// Value of sysctl `idx`.
    fn sysctl_read(state: &Self::State, idx: usize) -> i32;
    /// Validates and applies a write to sysctl `idx`.
    fn sysctl_write(state: &Self::State, idx: usize, v: i32) -> Result;
    /// Number of records of file `file` (read again at each step).
    fn records(state: &Self::State, file: usize) -> u32;
    /// Writes record `rec` of file `file`.
    fn show(state: &Self::State, file: usize, rec: u32, w: &mut SeqWriter);
}

/// Sysctl and seq_file callbacks of a namespace, through its state.
pub(super) struct StateOps<T: NetfilterNs>(Arc<T::State>);

impl<T: NetfilterNs> super::sysctl::SysctlOps for StateOps<T> {
    fn read(&self, idx: usize) -> i32 {
        T::sysctl_read(&self.0, idx)
    }
    fn write(&self, idx: usize, v: i32) -> Result {
        T::sysctl_write(&self.0, idx, v)
    }
}

impl<T: NetfilterNs> seqfile::SeqRecords for StateOps<T> {
    fn records(&self, file: usize) -> u32 {
        T::records(&self.0, file)
    }
    fn show(&self, file: usize, rec: u32, w: &mut SeqWriter) {
        T::show(&self.0, file, rec, w)
    }
}

/// What a namespace's slot holds.
///
/// # Invariants
///
/// `ops` holds `T::HOOKS.len()` hook ops whose `priv` is `Arc::as_ptr(&state)`,
/// registered in the namespace while `hooked` is true.
struct PerNet<T: NetfilterNs> {
    state: Arc<T::State>,
    ops: NonNull<glue::NfHookOps>,
    hooked: AtomicBool,
    /// Defragmentation enabled in this namespace by `init_net()`.
    defrag: bool,
    files: KVec<ProcFile<StateOps<T>>>,
    sysctl: Option<SysctlTable<StateOps<T>>>,
}

impl<T: NetfilterNs> Drop for PerNet<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by `rct_nf_ops_alloc()`; unregistered (or never
        // registered) and a grace period has passed, so netfilter no
        // longer reads it.
        unsafe { bindings::kfree(self.ops.as_ptr().cast()) };
    }
}

/// The hook function of every `T` hook.
///
/// # Safety
///
/// Called by netfilter, under `rcu_read_lock()`, for ops built by
/// `init_cb::<T>`: `priv_` is the `Arc<T::State>` data pointer of a namespace
/// whose state is freed only after its hooks are unregistered and a grace
/// period has passed; `skb` and `state` are valid for the call.
unsafe extern "C" fn hook_fn<T: NetfilterNs>(
    priv_: *mut c_void,
    skb: *mut bindings::sk_buff,
    state: *const glue::NfHookState,
) -> c_uint {
    const NF_DROP: c_uint = 0;
    const NF_ACCEPT: c_uint = 1;
    let mut a = glue::HookArgs::default();
    // SAFETY: see the function's safety section; `a` is a writable
    // `struct rct_hook_args`.
    let st = unsafe {
        glue::rct_hook_args(state, skb, &mut a);
        &*priv_.cast::<T::State>().cast_const()
    };
    let Some(hook) = Hook::from_raw(a.hook) else {
        return NF_ACCEPT;
    };
    // SAFETY: netfilter passes a valid skb that lives until we return;
    // `rct_hook_args()` read its network offset and length.
    let skb = unsafe { Skb::from_raw(skb, a.net_off, a.len) };
    match T::hook(st, &skb, hook, a.pf, a.in_loopback) {
        Verdict::Accept => NF_ACCEPT,
        Verdict::Drop => NF_DROP,
    }
}

/// The registration's callbacks, type-erased for the C glue.
struct Anchor {
    data: *const c_void,
    init: unsafe fn(*const c_void, *mut bindings::net) -> c_int,
    pre_exit: unsafe fn(*mut bindings::net),
    exit: unsafe fn(*mut bindings::net),
}

/// The registration whose callbacks the pernet operations call (null when
/// none is registered).
static ANCHOR: AtomicPtr<Anchor> = AtomicPtr::new(core::ptr::null_mut());

/// Builds a namespace: state, sysctls, files, then hooks.
///
/// # Safety
///
/// `data` is the `Arc<T>` of a live `Registration<T>`; `net` is a live
/// namespace being initialised, whose slot is free.
unsafe fn init_cb<T: NetfilterNs>(data: *const c_void, net: *mut bindings::net) -> c_int {
    // SAFETY: see the function's safety section.
    let this = unsafe { &*data.cast::<Arc<T>>() };
    let Some(nn) = NonNull::new(net) else {
        return EINVAL.to_errno();
    };
    // INVARIANT: the pernet init callback gets a live net.
    let n = Net(nn, core::marker::PhantomData);
    match init_net::<T>(this, &n) {
        Ok(pn) => {
            // SAFETY: the slot belongs to this module and this net, and is
            // free (function's safety section).
            unsafe { *glue::rct_net_slot(net) = KBox::into_raw(pn).cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

fn init_net<T: NetfilterNs>(this: &Arc<T>, n: &Net<'_>) -> Result<KBox<PerNet<T>>> {
    let state = Arc::new(T::init(this, n)?, GFP_KERNEL)?;
    let nhooks = T::HOOKS.len() as u32;
    // SAFETY: plain allocation.
    let ops = NonNull::new(unsafe { glue::rct_nf_ops_alloc(nhooks) }).ok_or(ENOMEM)?;
    let mut pn = KBox::new(
        PerNet::<T> {
            state,
            ops,
            hooked: AtomicBool::new(false),
            defrag: false,
            files: KVec::new(),
            sysctl: None,
        },
        GFP_KERNEL,
    )
    .inspect_err(|_| {
        // SAFETY: allocated above, not registered.
        unsafe { bindings::kfree(ops.as_ptr().cast()) }
    })?;
    // From here on, an error drops `pn`: files and sysctls unregister
    // themselves, `ops` is freed (no hook was registered yet).
    let state = pn.state.clone();
    let st = || StateOps::<T>(state.clone());
    let ctx = Arc::new(st(), GFP_KERNEL)?;
    // SAFETY: `n` is the namespace being initialised; the table is kept in
    // `pn`, which its exit callback drops (or this function, on error).
    pn.sysctl = Some(unsafe {
        SysctlTable::register(n.0.as_ptr(), T::SYSCTL_PATH, T::SYSCTLS, n.is_init(), ctx)
    }?);
    for (i, f) in T::FILES.iter().enumerate() {
        let ctx = Arc::new(st(), GFP_KERNEL)?;
        // SAFETY: as above, for the file.
        let file = unsafe { ProcFile::create(n.0.as_ptr(), f.name, f.stat, f.mode, i, ctx) }?;
        pn.files.push(file, GFP_KERNEL)?;
    }
    let priv_ = Arc::as_ptr(&pn.state).cast_mut().cast::<c_void>();
    for (i, h) in T::HOOKS.iter().enumerate() {
        // SAFETY: `ops` has `nhooks` elements and `i < nhooks`.
        unsafe {
            glue::rct_nf_ops_set(
                pn.ops.as_ptr(),
                i as u32,
                hook_fn::<T>,
                priv_,
                h.pf,
                h.hook as u32,
                h.priority,
            )
        };
    }
    if T::DEFRAG {
        // SAFETY: live net; `Registration::new()` looked the functions up
        // (`rct_defrag_get()`) before registering the pernet operations.
        let ret = unsafe { glue::rct_defrag_enable(n.0.as_ptr()) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        pn.defrag = true;
    }
    // SAFETY: live net; `ops` stays allocated until `PerNet::drop`, which
    // runs after unregistration and a grace period.
    let ret = unsafe { glue::rct_nf_register(n.0.as_ptr(), pn.ops.as_ptr(), nhooks) };
    if ret < 0 {
        // A partial registration was undone, but hooks registered for a
        // moment may be running on other CPUs with `priv_`.
        super::sys::synchronize_net();
        if pn.defrag {
            // SAFETY: enabled above in this live net.
            unsafe { glue::rct_defrag_disable(n.0.as_ptr()) };
        }
        return Err(Error::from_errno(ret));
    }
    // INVARIANT: registered just above.
    pn.hooked.store(true, Ordering::Relaxed);
    Ok(pn)
}

/// Unregisters a namespace's hooks.
///
/// # Safety
///
/// `net` is a live namespace whose slot holds null or a `PerNet<T>`.
unsafe fn pre_exit_cb<T: NetfilterNs>(net: *mut bindings::net) {
    // SAFETY: see the function's safety section.
    let pn = unsafe { (*glue::rct_net_slot(net)).cast::<PerNet<T>>().as_ref() };
    let Some(pn) = pn else {
        return;
    };
    if pn.hooked.swap(false, Ordering::Relaxed) {
        // SAFETY: registered in `init_net()` with these ops.
        unsafe { glue::rct_nf_unregister(net, pn.ops.as_ptr(), T::HOOKS.len() as u32) };
    }
}

/// Frees a namespace's state, after `pre_exit` and a grace period.
///
/// # Safety
///
/// `net` is a live namespace whose slot holds null or a `PerNet<T>` whose
/// hooks were unregistered by `pre_exit_cb::<T>` a grace period ago.
unsafe fn exit_cb<T: NetfilterNs>(net: *mut bindings::net) {
    // SAFETY: see the function's safety section; the slot is cleared so
    // that nothing finds the state any more.
    let raw = unsafe {
        let slot = glue::rct_net_slot(net);
        let raw = (*slot).cast::<PerNet<T>>();
        *slot = core::ptr::null_mut();
        raw
    };
    if raw.is_null() {
        return;
    }
    // SAFETY: from `KBox::into_raw()` in `init_cb`, now exclusively ours.
    let mut pn = unsafe { KBox::from_raw(raw) };
    if pn.hooked.load(Ordering::Relaxed) {
        // Cannot happen (pre_exit ran); never free a registered hook's data.
        pr_err!("namespace exit with hooks registered\n");
        // SAFETY: registered with these ops; then wait for running hooks.
        unsafe { glue::rct_nf_unregister(net, pn.ops.as_ptr(), T::HOOKS.len() as u32) };
        super::sys::synchronize_net();
    }
    T::exit(&pn.state);
    if pn.defrag {
        // SAFETY: enabled by `init_net()` in this namespace, whose hooks
        // are gone: nothing of ours needs reassembled packets any more.
        unsafe { glue::rct_defrag_disable(net) };
    }
    // Files first, then sysctls: each removal waits for running readers.
    pn.files.clear();
    pn.sysctl = None;
    drop(pn);
}

/// Keeps `T` registered for every current and future namespace.
///
/// # Invariants
///
/// While it lives, `ANCHOR` points to `anchor`, whose `data` is `&*data`.
pub(crate) struct Registration<T: NetfilterNs> {
    anchor: KBox<Anchor>,
    data: KBox<Arc<T>>,
}

// SAFETY: the anchor is only read by the pernet callbacks; `T` is
// `Send + Sync`.
unsafe impl<T: NetfilterNs> Send for Registration<T> {}
// SAFETY: as above; `&Registration` exposes nothing.
unsafe impl<T: NetfilterNs> Sync for Registration<T> {}

impl<T: NetfilterNs> Registration<T> {
    /// Registers `data` in every namespace (`EBUSY` if a registration
    /// exists already).
    pub(crate) fn new(data: Arc<T>) -> Result<Self> {
        let data = KBox::new(data, GFP_KERNEL)?;
        let anchor = KBox::new(
            Anchor {
                data: core::ptr::from_ref::<Arc<T>>(&data).cast(),
                init: init_cb::<T>,
                pre_exit: pre_exit_cb::<T>,
                exit: exit_cb::<T>,
            },
            GFP_KERNEL,
        )?;
        let p = core::ptr::from_ref::<Anchor>(&anchor).cast_mut();
        ANCHOR
            .compare_exchange(
                core::ptr::null_mut(),
                p,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map_err(|_| EBUSY)?;
        if T::DEFRAG {
            // SAFETY: process context, no lock held: may load modules.
            let ret = unsafe { glue::rct_defrag_get() };
            if ret < 0 {
                ANCHOR.store(core::ptr::null_mut(), Ordering::Release);
                return Err(Error::from_errno(ret));
            }
        }
        // SAFETY: the callbacks find the anchor set above; on failure the
        // core has undone every namespace it initialised.
        let ret = unsafe { glue::rct_pernet_register() };
        if ret < 0 {
            ANCHOR.store(core::ptr::null_mut(), Ordering::Release);
            if T::DEFRAG {
                // SAFETY: taken above; no namespace uses them any more.
                unsafe { glue::rct_defrag_put() };
            }
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: anchor published above.
        Ok(Registration { anchor, data })
    }

    /// The registered data.
    pub(crate) fn data(&self) -> &Arc<T> {
        &self.data
    }
}

impl<T: NetfilterNs> Drop for Registration<T> {
    fn drop(&mut self) {
        // Runs pre_exit, a grace period, and exit for every namespace: no
        // hook, sysctl or proc callback of `T` is left when it returns.
        // SAFETY: registered in `new()`.
        unsafe { glue::rct_pernet_unregister() };
        ANCHOR.store(core::ptr::null_mut(), Ordering::Release);
        if T::DEFRAG {
            // SAFETY: taken in `new()`; every namespace disabled its use.
            unsafe { glue::rct_defrag_put() };
        }
        let _ = &self.anchor;
    }
}

fn anchor() -> Option<&'static Anchor> {
    let p = ANCHOR.load(Ordering::Acquire);
    // SAFETY: non-null only while a `Registration` lives, which unregisters
    // the pernet operations (the only callers) before clearing it.
    unsafe { p.as_ref() }
}

#[no_mangle]
extern "C" fn rct_rust_net_init(net: *mut bindings::net) -> c_int {
    match anchor() {
        // SAFETY: the anchor's callbacks match its data; the core calls
        // init once per namespace, with a free slot.
        Some(a) => unsafe { (a.init)(a.data, net) },
        None => ENOENT.to_errno(),
    }
}

#[no_mangle]
extern "C" fn rct_rust_net_pre_exit(net: *mut bindings::net) {
    if let Some(a) = anchor() {
        // SAFETY: the slot holds null or the `PerNet` of the anchor's type.
        unsafe { (a.pre_exit)(net) }
    }
}

#[no_mangle]
extern "C" fn rct_rust_net_exit(net: *mut bindings::net) {
    if let Some(a) = anchor() {
        // SAFETY: as above; the core ran pre_exit and a grace period.
        unsafe { (a.exit)(net) }
    }
}
