// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C glue in `rconntrack_glue.c` (see
//! `rconntrack_glue.h`). Only the other `kernel_ext` files call these.
//!
//! On i386 no function here takes or returns a 64-bit integer or a struct by
//! value: rustc's `-Zregparm=3` does not pass those like C does
//! (rust-lang/rust#145694); `qemu/abi-lint.sh` checks it on every i386
//! build. The one exception is the `rct_abi_*` probes at the end, which the
//! KUnit tests of `kunit_abi.rs` call to document exactly that, and which
//! `qemu/abi-allow.txt` lets past the lint.

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// `struct nf_hook_ops`, whose layout only C knows.
#[repr(C)]
pub(crate) struct NfHookOps {
    _opaque: [u8; 0],
}

/// `struct nf_hook_state`, read through the glue.
#[repr(C)]
pub(crate) struct NfHookState {
    _opaque: [u8; 0],
}

/// `struct seq_operations`, allocated by the glue.
#[repr(C)]
pub(crate) struct SeqOps {
    _opaque: [u8; 0],
}

/// `struct rct_hook_args`: what a hook needs of its state and packet, filled
/// by `rct_hook_args()` (the C side asserts this layout).
#[repr(C)]
#[derive(Default)]
pub(crate) struct HookArgs {
    /// `nf_hook_state.hook`.
    pub(crate) hook: u32,
    /// `skb->len`.
    pub(crate) len: u32,
    /// `skb_network_offset(skb)`.
    pub(crate) net_off: i32,
    /// `nf_hook_state.pf`.
    pub(crate) pf: u8,
    /// The packet came in on a loopback device.
    pub(crate) in_loopback: bool,
    _pad: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<HookArgs>() == 16);

/// A netfilter hook function.
pub(crate) type HookFn =
    unsafe extern "C" fn(*mut c_void, *mut bindings::sk_buff, *const NfHookState) -> c_uint;
/// seq_file callbacks.
pub(crate) type SeqStartFn =
    unsafe extern "C" fn(*mut bindings::seq_file, *mut bindings::loff_t) -> *mut c_void;
/// See [`SeqStartFn`].
pub(crate) type SeqStopFn = unsafe extern "C" fn(*mut bindings::seq_file, *mut c_void);
/// See [`SeqStartFn`].
pub(crate) type SeqNextFn = unsafe extern "C" fn(
    *mut bindings::seq_file,
    *mut c_void,
    *mut bindings::loff_t,
) -> *mut c_void;
/// See [`SeqStartFn`].
pub(crate) type SeqShowFn = unsafe extern "C" fn(*mut bindings::seq_file, *mut c_void) -> c_int;
/// A work function.
pub(crate) type WorkFn = unsafe extern "C" fn(*mut bindings::work_struct);

// `struct net` and friends end in zero-sized arrays, which is fine behind
// a pointer.
#[allow(improper_ctypes)]
unsafe extern "C" {
    pub(crate) fn rct_nf_ops_alloc(n: c_uint) -> *mut NfHookOps;
    pub(crate) fn rct_nf_ops_set(
        ops: *mut NfHookOps,
        i: c_uint,
        hook: HookFn,
        priv_: *mut c_void,
        pf: u8,
        hooknum: c_uint,
        prio: c_int,
    );
    pub(crate) fn rct_hook_args(
        state: *const NfHookState,
        skb: *const bindings::sk_buff,
        args: *mut HookArgs,
    );
    pub(crate) fn rct_nf_register(
        net: *mut bindings::net,
        ops: *const NfHookOps,
        n: c_uint,
    ) -> c_int;
    pub(crate) fn rct_nf_unregister(net: *mut bindings::net, ops: *const NfHookOps, n: c_uint);

    pub(crate) fn rct_defrag_get() -> c_int;
    pub(crate) fn rct_defrag_put();
    pub(crate) fn rct_defrag_enable(net: *mut bindings::net) -> c_int;
    pub(crate) fn rct_defrag_disable(net: *mut bindings::net);
    pub(crate) fn rct_pernet_register() -> c_int;
    pub(crate) fn rct_pernet_unregister();
    pub(crate) fn rct_net_slot(net: *mut bindings::net) -> *mut *mut c_void;
    pub(crate) fn rct_net_is_init(net: *const bindings::net) -> bool;
    pub(crate) fn rct_net_inum(net: *const bindings::net) -> c_uint;

    pub(crate) fn rct_seq_ops_alloc(
        start: SeqStartFn,
        stop: SeqStopFn,
        next: SeqNextFn,
        show: SeqShowFn,
    ) -> *mut SeqOps;
    pub(crate) fn rct_proc_create_seq(
        net: *mut bindings::net,
        name: *const c_char,
        stat: bool,
        mode: u16,
        ops: *const SeqOps,
        data: *mut c_void,
    ) -> *mut bindings::proc_dir_entry;
    pub(crate) fn rct_proc_remove(pde: *mut bindings::proc_dir_entry);
    pub(crate) fn rct_seq_data(m: *mut bindings::seq_file) -> *mut c_void;

    pub(crate) fn rct_skb_header(
        skb: *const bindings::sk_buff,
        off: c_int,
        len: c_int,
        buf: *mut c_void,
    ) -> *const c_void;

    pub(crate) fn rct_cache_create(
        name: *const c_char,
        size: c_uint,
        align: c_uint,
    ) -> *mut bindings::kmem_cache;
    pub(crate) fn rct_cache_object_size(c: *mut bindings::kmem_cache) -> c_uint;
    pub(crate) fn rct_cache_alloc(
        c: *mut bindings::kmem_cache,
        gfp: bindings::gfp_t,
    ) -> *mut c_void;
    pub(crate) fn rct_kvcalloc(n: usize, size: usize) -> *mut c_void;
    pub(crate) fn rct_totalram_pages() -> c_ulong;
    pub(crate) fn rct_totalhigh_pages() -> c_ulong;
    pub(crate) fn rct_free_lowmem_pages() -> c_ulong;
    pub(crate) fn rct_page_shift() -> c_uint;

    pub(crate) fn rct_percpu_alloc(size: usize) -> *mut c_void;
    pub(crate) fn rct_percpu_alloc_align(size: usize, align: usize) -> *mut c_void;
    pub(crate) fn rct_this_cpu_ptr_irqsave(p: *mut c_void, flags: *mut c_ulong) -> *mut c_void;
    pub(crate) fn rct_local_irq_restore(flags: c_ulong);
    pub(crate) fn rct_skb_is_gso_tcp(skb: *const bindings::sk_buff) -> bool;
    pub(crate) fn rct_skb_csum_ok(
        skb: *mut bindings::sk_buff,
        dataoff: c_uint,
        proto: u8,
        pf: u8,
    ) -> bool;
    pub(crate) fn rct_percpu_inc(p: *mut c_void, idx: c_uint);
    pub(crate) fn rct_percpu_read(p: *mut c_void, cpu: c_int, idx: c_uint) -> c_uint;
    pub(crate) fn rct_cpu_next(cpu: c_int) -> c_int;
    pub(crate) fn rct_nr_cpu_ids() -> c_uint;

    pub(crate) fn rct_hsiphash(
        data: *const c_void,
        len: usize,
        key: *const bindings::hsiphash_key_t,
    ) -> u32;
    pub(crate) fn rct_spin_init(l: *mut bindings::spinlock_t);
    pub(crate) fn rct_spin_init_outer(l: *mut bindings::spinlock_t);
    pub(crate) fn rct_spin_lock(l: *mut bindings::spinlock_t);
    pub(crate) fn rct_spin_lock_nested(l: *mut bindings::spinlock_t);
    pub(crate) fn rct_spin_unlock(l: *mut bindings::spinlock_t);
    pub(crate) fn rct_local_bh_disable();
    pub(crate) fn rct_local_bh_enable();
    pub(crate) fn rct_cond_resched();
    pub(crate) fn rct_cpu_relax();
    pub(crate) fn rct_udelay(us: c_uint);
    pub(crate) fn rct_synchronize_net();

    pub(crate) fn rct_dwork_init(dw: *mut bindings::delayed_work, f: WorkFn);
    pub(crate) fn rct_dwork_queue(dw: *mut bindings::delayed_work, delay: usize);
    pub(crate) fn rct_dwork_cancel_sync(dw: *mut bindings::delayed_work);
}

/// `struct rct_abi_pair`: 8 bytes, passed by value in two registers by C on
/// i386 (`-mregparm=3`), on the stack by rustc.
#[cfg(CONFIG_KUNIT)]
#[repr(C)]
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct AbiPair {
    pub(crate) a: u32,
    pub(crate) b: u32,
}

/// `struct rct_abi_six`: 24 bytes, passed by value on the stack by both.
#[cfg(CONFIG_KUNIT)]
#[repr(C)]
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct AbiSix {
    pub(crate) w: [u32; 6],
}

/// A callback C calls with three `u32` (`rct_abi_cb3_fn`).
#[cfg(CONFIG_KUNIT)]
pub(crate) type AbiCb3Fn = extern "C" fn(u32, u32, u32) -> u32;
/// A callback C calls with a `u64` (`rct_abi_cb64_fn`).
#[cfg(CONFIG_KUNIT)]
pub(crate) type AbiCb64Fn = extern "C" fn(u64) -> u64;
/// A callback C calls on a stack only 4-byte aligned (`rct_abi_align_fn`).
#[cfg(CONFIG_KUNIT)]
pub(crate) type AbiAlignFn = extern "C" fn() -> u32;

// Calling-convention probes (see `rconntrack_glue.h`), for `kunit_abi.rs`
// only: the u64 and struct shapes are listed in `qemu/abi-allow.txt`.
#[cfg(CONFIG_KUNIT)]
unsafe extern "C" {
    pub(crate) fn rct_abi_seen() -> *const u32;
    pub(crate) fn rct_abi_u32x4(a: u32, b: u32, c: u32, d: u32) -> u64;
    pub(crate) fn rct_abi_u32_u64(a: u32, b: u64) -> u64;
    pub(crate) fn rct_abi_u64_u64_u32(a: u64, b: u64, c: u32) -> u64;
    pub(crate) fn rct_abi_pair_u32(s: AbiPair, tag: u32) -> u32;
    pub(crate) fn rct_abi_six(s: AbiSix) -> u32;
    pub(crate) fn rct_abi_six_u32(s: AbiSix, tag: u32) -> u32;
    pub(crate) fn rct_abi_ret_pair(a: u32, b: u32) -> AbiPair;
    #[cfg(not(CONFIG_X86_32))]
    pub(crate) fn rct_abi_ret_six(seed: u32) -> AbiSix;
    pub(crate) fn rct_abi_call_cb3(cb: AbiCb3Fn, a: u32, b: u32, c: u32) -> u32;
    pub(crate) fn rct_abi_call_cb64(cb: AbiCb64Fn, lo: u32, hi: u32) -> u64;
    pub(crate) fn rct_abi_call_misaligned(cb: AbiAlignFn) -> u32;
}
