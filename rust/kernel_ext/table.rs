// SPDX-License-Identifier: GPL-2.0

//! The connection table.
//!
//! Entries come from a dedicated slab cache and are linked twice, once per
//! direction, into `hlist_nulls`-style chains of a kvmalloc'd bucket array
//! (the array lives outside the slab linear-map pressure that entries add).
//!
//! * Lookups are lock-free under RCU. A chain ends in a "nulls" marker that
//!   encodes its bucket; a reader that ends on another bucket's marker, or sees
//!   the generation change (a resize ran), restarts (`search_restart`).
//! * Inserts and removals take the stripe locks of both buckets, lower index
//!   first, and re-check the generation under the locks.
//! * Removed entries are freed after an RCU grace period, so a reference
//!   obtained under an RCU guard stays valid while the guard lives. This is
//!   the whole safety argument of the API: [`Entry`] references are tied to
//!   the [`rcu::Guard`] lifetime.
//! * Resizing takes every stripe, bumps the generation (odd while moving),
//!   moves the nodes and frees the old array after a grace period.
//!
//! Node pointers carry two tag bits: bit 0 marks a nulls value, bit 1 the
//! direction of the node pointed to, so a node leads back to its entry.

use super::glue;
use super::hash::HashKey;
use super::stripes::Stripes;
use super::sys;
use crate::proto::Dir;
use crate::tuple::Tuple;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::{rcu, Arc};
use kernel::types::Opaque;

const NULLS: usize = 1;
const DIR_BIT: usize = 2;
const TAG_MASK: usize = 3;

fn nulls(bucket: u32) -> usize {
    ((bucket as usize) << 2) | NULLS
}

fn is_nulls(v: usize) -> bool {
    v & NULLS != 0
}

fn nulls_bucket(v: usize) -> u32 {
    (v >> 2) as u32
}

/// `reciprocal_scale()`: maps a hash onto `n` buckets without division.
fn scale(hash: u32, n: u32) -> u32 {
    ((u64::from(hash) * u64::from(n)) >> 32) as u32
}

#[repr(C)]
struct Node {
    next: AtomicUsize,
}

/// Per-netns data shared by all entries of one network namespace.
pub(crate) struct NetShared {
    /// Namespace number (mixed into the hash).
    pub(crate) id: u32,
    /// Entries of this namespace in the table.
    pub(crate) count: AtomicU32,
}

/// A tracked connection.
///
/// Aligned to 8 so that its size is a whole slab slot on i386 too (68 bytes
/// would take a 72-byte slot): `entry_size` then is the real cost.
#[repr(C, align(8))]
pub(crate) struct Entry {
    nodes: [Node; 2],
    owner: Arc<NetShared>,
    /// Expiry time in jiffies.
    pub(crate) expires: AtomicUsize,
    /// Status word, see [`crate::proto::status`].
    pub(crate) status: AtomicU32,
    dead: AtomicBool,
    /// The original-direction tuple.
    pub(crate) tuple: Tuple,
    rcu: Opaque<bindings::callback_head>,
}

impl Entry {
    /// Whether the entry belongs to `net`.
    pub(crate) fn belongs_to(&self, net: &NetShared) -> bool {
        core::ptr::eq(&*self.owner, net)
    }

    /// Whether the entry was removed from the table.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// The tuple of direction `d`.
    pub(crate) fn tuple_of(&self, d: Dir) -> Tuple {
        match d {
            Dir::Original => self.tuple,
            Dir::Reply => self.tuple.invert(),
        }
    }

    fn node_value(&self, d: usize) -> usize {
        (core::ptr::from_ref::<Node>(&self.nodes[d]) as usize) | (d << 1)
    }
}

/// Maps a (non-nulls) chain value back to its entry and node direction.
///
/// # Safety
///
/// `v` must be a value read from a chain of the table while the entry it
/// designates cannot have been freed: under the RCU read lock, or under the
/// bucket's stripe lock.
unsafe fn entry_of<'a>(v: usize) -> (&'a Entry, usize) {
    let d = (v & DIR_BIT) >> 1;
    let node = (v & !TAG_MASK) as *const Node;
    // SAFETY: chain values point at `nodes[d]` of a live entry (caller's
    // requirement), so stepping back `d` nodes and the field offset yields
    // the entry.
    let e = unsafe {
        node.sub(d)
            .byte_sub(core::mem::offset_of!(Entry, nodes))
            .cast::<Entry>()
    };
    // SAFETY: see above; the entry lives at least as long as the caller's
    // RCU guard or lock.
    (unsafe { &*e }, d)
}

/// A bucket array.
///
/// # Invariants
///
/// `heads` points to `n` initialised `AtomicUsize` allocated by kvcalloc.
struct Buckets {
    heads: NonNull<AtomicUsize>,
    n: u32,
}

impl Buckets {
    fn new(n: u32) -> Result<KBox<Self>> {
        // SAFETY: plain allocation.
        let p = unsafe { glue::rct_kvcalloc(n as usize, core::mem::size_of::<AtomicUsize>()) };
        let heads = NonNull::new(p.cast::<AtomicUsize>()).ok_or(ENOMEM)?;
        for i in 0..n {
            // SAFETY: `i < n`, inside the zeroed allocation; AtomicUsize has
            // the layout of usize and zero is a valid value.
            unsafe { (*heads.as_ptr().add(i as usize)).store(nulls(i), Ordering::Relaxed) };
        }
        // INVARIANT: allocated and initialised above.
        Ok(KBox::new(Buckets { heads, n }, GFP_KERNEL)?)
    }

    fn head(&self, i: u32) -> &AtomicUsize {
        let i = i.min(self.n - 1);
        // SAFETY: `i < n` and the array is valid per the invariant.
        unsafe { &*self.heads.as_ptr().add(i as usize) }
    }
}

impl Drop for Buckets {
    fn drop(&mut self) {
        // SAFETY: allocated by kvcalloc, no reader left (callers wait for a
        // grace period before dropping a published array).
        unsafe { bindings::kvfree(self.heads.as_ptr().cast()) };
    }
}

/// The entry cache, shared with the RCU free callback.
static CACHE: AtomicPtr<bindings::kmem_cache> = AtomicPtr::new(core::ptr::null_mut());

/// RCU callback freeing a removed entry.
///
/// # Safety
///
/// `head` must be the `rcu` field of an entry handed to `call_rcu()` by
/// [`Table::remove`].
unsafe extern "C" fn free_rcu(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` field of an entry passed to `call_rcu()`
    // by `Table::remove()`; the entry is unlinked and a grace period has
    // elapsed, so nothing else references it.
    unsafe {
        let e = kernel::container_of!(Opaque::cast_from(head), Entry, rcu).cast_mut();
        core::ptr::drop_in_place(e);
        bindings::kmem_cache_free(CACHE.load(Ordering::Relaxed), e.cast());
    }
}

/// An allocated entry that is not in the table yet; on drop it is freed and
/// its reservation in the table's count released.
pub(crate) struct NewEntry<'t> {
    e: NonNull<Entry>,
    count: &'t AtomicU32,
}

impl NewEntry<'_> {
    /// The entry.
    pub(crate) fn entry(&self) -> &Entry {
        // SAFETY: owned, initialised entry.
        unsafe { self.e.as_ref() }
    }
}

impl Drop for NewEntry<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: never published, so nobody else can see it; initialised
        // by `Table::alloc()` from the cache.
        unsafe {
            core::ptr::drop_in_place(self.e.as_ptr());
            bindings::kmem_cache_free(CACHE.load(Ordering::Relaxed), self.e.as_ptr().cast());
        }
    }
}

/// Why no entry could be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocError {
    /// The table holds `max` entries already.
    Full,
    /// The slab allocation failed.
    NoMemory,
}

/// Result of a lookup.
pub(crate) struct Found<'g> {
    /// The entry.
    pub(crate) entry: &'g Entry,
    /// Direction of the packet relative to the entry.
    pub(crate) dir: Dir,
}

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// Another CPU inserted the same connection first.
    Clash,
    /// The chain is already at its length cap.
    ChainTooLong,
}

/// The two buckets of an entry, locked (stripes released before the RCU
/// read lock, by field order).
struct Locked<'a> {
    b: &'a Buckets,
    idx: [u32; 2],
    _g: super::stripes::StripeGuard<'a>,
    _rcu: rcu::Guard,
}

/// The table.
///
/// # Invariants
///
/// `buckets` always points to a live `Buckets` from `KBox::into_raw`; a
/// replaced array is freed only after a grace period. All entries linked in
/// it were allocated from `cache` (also stored in [`CACHE`]), and there is
/// one `Table` at a time.
pub(crate) struct Table {
    cache: NonNull<bindings::kmem_cache>,
    buckets: AtomicPtr<Buckets>,
    gen: AtomicU32,
    stripes: Stripes,
    key: HashKey,
    count: AtomicU32,
    object_size: u32,
}

// SAFETY: all shared state is atomic or protected by the stripe locks.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

/// Longest chain an insert accepts (nf_conntrack's `MAX_CHAINLEN`).
pub(crate) const MAX_CHAIN: u32 = 64;

/// Allocation flags for entries: atomic, quiet, and never from the
/// emergency reserves (swap-over-network needs them more than we do).
const GFP_PACKET: bindings::gfp_t =
    bindings::GFP_ATOMIC | bindings::__GFP_NOWARN | (1 << bindings::___GFP_NOMEMALLOC_BIT);

impl Table {
    /// Creates the cache and a table of `nbuckets` buckets and `nlocks`
    /// stripes.
    pub(crate) fn new(name: &'static CStr, nbuckets: u32, nlocks: usize) -> Result<Self> {
        let stripes = Stripes::new(nlocks)?;
        let buckets = KBox::into_raw(Buckets::new(nbuckets.max(1))?);
        // SAFETY: `name` is a static C string; size and alignment are the
        // entry's.
        let cache = unsafe {
            glue::rct_cache_create(
                name.as_char_ptr(),
                core::mem::size_of::<Entry>() as u32,
                core::mem::align_of::<Entry>() as u32,
            )
        };
        let Some(cache) = NonNull::new(cache) else {
            // SAFETY: from `KBox::into_raw` above, never published.
            drop(unsafe { KBox::from_raw(buckets) });
            return Err(ENOMEM);
        };
        CACHE.store(cache.as_ptr(), Ordering::Relaxed);
        // SAFETY: valid cache.
        let object_size = unsafe { glue::rct_cache_object_size(cache.as_ptr()) };
        // INVARIANT: fresh array and cache.
        Ok(Table {
            cache,
            buckets: AtomicPtr::new(buckets),
            gen: AtomicU32::new(0),
            stripes,
            key: HashKey::random(),
            count: AtomicU32::new(0),
            object_size,
        })
    }

    fn buckets(&self) -> &Buckets {
        // SAFETY: always a live array (invariant); callers hold the RCU read
        // lock or a stripe lock, which keeps it alive.
        unsafe { &*self.buckets.load(Ordering::Acquire) }
    }

    /// Number of buckets.
    pub(crate) fn nbuckets(&self) -> u32 {
        let _g = rcu::read_lock();
        self.buckets().n
    }

    /// Number of stripes.
    pub(crate) fn nlocks(&self) -> usize {
        self.stripes.len()
    }

    /// Slab object size of one entry.
    pub(crate) fn object_size(&self) -> u32 {
        self.object_size
    }

    /// Entries in the table (all namespaces), including reservations.
    pub(crate) fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// The keyed hash of `t` in namespace `net`.
    pub(crate) fn hash(&self, net: &NetShared, t: &Tuple) -> u32 {
        let w = t.hash_words();
        let words = [
            w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], net.id,
        ];
        self.key.hash(&words)
    }

    /// Finds the entry of `t` in `net`; `restarts` counts search restarts.
    pub(crate) fn lookup<'g>(
        &self,
        _g: &'g rcu::Guard,
        net: &NetShared,
        t: &Tuple,
        restarts: &mut u32,
    ) -> Option<Found<'g>> {
        let inv = t.invert();
        let h = self.hash(net, t);
        loop {
            let seq = self.gen.load(Ordering::Acquire);
            let b = self.buckets();
            let idx = scale(h, b.n);
            let mut v = b.head(idx).load(Ordering::Acquire);
            while !is_nulls(v) {
                // SAFETY: read from a chain under the RCU guard `_g`.
                let (e, d) = unsafe { entry_of::<'g>(v) };
                if e.belongs_to(net) {
                    let hit = if d == 0 {
                        e.tuple == *t
                    } else {
                        e.tuple == inv
                    };
                    if hit {
                        let dir = if d == 0 { Dir::Original } else { Dir::Reply };
                        return Some(Found { entry: e, dir });
                    }
                }
                v = e.nodes[d].next.load(Ordering::Acquire);
            }
            let moved = nulls_bucket(v) != idx || seq & 1 != 0;
            if (moved || self.gen.load(Ordering::Acquire) != seq) && *restarts < 16 {
                *restarts += 1;
                continue;
            }
            return None;
        }
    }

    /// Reserves a place below `max` and allocates an entry for it
    /// (`GFP_ATOMIC`, no warning, no emergency reserve).
    pub(crate) fn alloc(
        &self,
        net: &Arc<NetShared>,
        tuple: Tuple,
        status: u32,
        expires: usize,
        max: u32,
    ) -> core::result::Result<NewEntry<'_>, AllocError> {
        let mut c = self.count.load(Ordering::Relaxed);
        loop {
            if c >= max {
                return Err(AllocError::Full);
            }
            match self
                .count
                .compare_exchange_weak(c, c + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(cur) => c = cur,
            }
        }
        // SAFETY: valid cache (invariant).
        let p = unsafe { glue::rct_cache_alloc(self.cache.as_ptr(), GFP_PACKET) };
        let Some(e) = NonNull::new(p.cast::<Entry>()) else {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return Err(AllocError::NoMemory);
        };
        // SAFETY: fresh object of the entry's size and alignment.
        unsafe {
            e.as_ptr().write(Entry {
                nodes: [
                    Node {
                        next: AtomicUsize::new(NULLS),
                    },
                    Node {
                        next: AtomicUsize::new(NULLS),
                    },
                ],
                owner: net.clone(),
                expires: AtomicUsize::new(expires),
                status: AtomicU32::new(status),
                dead: AtomicBool::new(false),
                tuple,
                rcu: Opaque::uninit(),
            })
        };
        Ok(NewEntry {
            e,
            count: &self.count,
        })
    }

    /// Locks the buckets of hashes `h` in the current array, retrying across
    /// a concurrent resize (the generation must be even and unchanged once
    /// the stripes are held; a resize holds them all).
    fn lock_pair(&self, h: [u32; 2]) -> Locked<'_> {
        loop {
            let seq = self.gen.load(Ordering::Acquire);
            let rcu = rcu::read_lock();
            let b = self.buckets();
            let idx = [scale(h[0], b.n), scale(h[1], b.n)];
            let g = self
                .stripes
                .lock2(self.stripes.index(idx[0]), self.stripes.index(idx[1]));
            if seq & 1 == 0 && self.gen.load(Ordering::Acquire) == seq {
                return Locked {
                    b,
                    idx,
                    _g: g,
                    _rcu: rcu,
                };
            }
        }
    }

    /// Inserts both directions of `new`, refusing clashes and chains longer
    /// than `MAX_CHAIN`. On error the entry is freed.
    pub(crate) fn insert(&self, new: NewEntry<'_>) -> core::result::Result<(), InsertError> {
        let e = new.entry();
        let inv = e.tuple.invert();
        let h = [self.hash(&e.owner, &e.tuple), self.hash(&e.owner, &inv)];
        let l = self.lock_pair(h);
        let (b, idx) = (l.b, l.idx);
        for (i, want) in [(idx[0], &e.tuple), (idx[1], &inv)] {
            let mut len = 0;
            let mut v = b.head(i).load(Ordering::Relaxed);
            while !is_nulls(v) {
                // SAFETY: read from a chain under its stripe lock.
                let (x, d) = unsafe { entry_of(v) };
                let dir = if d == 0 { Dir::Original } else { Dir::Reply };
                if x.belongs_to(&e.owner) && x.tuple_of(dir) == *want {
                    return Err(InsertError::Clash);
                }
                len += 1;
                if len >= MAX_CHAIN {
                    return Err(InsertError::ChainTooLong);
                }
                v = x.nodes[d].next.load(Ordering::Relaxed);
            }
        }
        for (d, &i) in idx.iter().enumerate() {
            let head = b.head(i);
            e.nodes[d]
                .next
                .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
            head.store(e.node_value(d), Ordering::Release);
        }
        // The reservation made by `alloc()` now counts the entry.
        e.owner.count.fetch_add(1, Ordering::Relaxed);
        // The table owns the entry now.
        core::mem::forget(new);
        Ok(())
    }

    /// Unlinks node `d` of `e` from chain `i` of `b`; caller holds the lock.
    fn unlink(b: &Buckets, i: u32, e: &Entry, d: usize) -> bool {
        let target = e.node_value(d);
        let mut slot = b.head(i);
        loop {
            let v = slot.load(Ordering::Relaxed);
            if is_nulls(v) {
                return false;
            }
            if v == target {
                slot.store(e.nodes[d].next.load(Ordering::Relaxed), Ordering::Release);
                return true;
            }
            // SAFETY: read from a chain under its stripe lock.
            let (x, xd) = unsafe { entry_of(v) };
            slot = &x.nodes[xd].next;
        }
    }

    /// Removes `e` and frees it after a grace period. Returns `false` if it
    /// was already removed (by GC, a flush, or another CPU).
    pub(crate) fn remove(&self, e: &Entry) -> bool {
        if e.is_dead() {
            return false;
        }
        let h = [
            self.hash(&e.owner, &e.tuple),
            self.hash(&e.owner, &e.tuple.invert()),
        ];
        let l = self.lock_pair(h);
        let (b, idx) = (l.b, l.idx);
        if e.dead.load(Ordering::Relaxed) {
            return false;
        }
        let ok0 = Self::unlink(b, idx[0], e, 0);
        let ok1 = Self::unlink(b, idx[1], e, 1);
        e.dead.store(true, Ordering::Release);
        self.count.fetch_sub(1, Ordering::Relaxed);
        e.owner.count.fetch_sub(1, Ordering::Relaxed);
        drop(l);
        if !(ok0 && ok1) {
            pr_err!("entry missing from its chain\n");
        }
        // SAFETY: `e` is unlinked from both chains under their locks and
        // marked dead, so no new reference can be taken; existing ones
        // are RCU readers, which `call_rcu()` waits for. `rcu` is not in
        // use (removal happens once, guarded by `dead` under the lock).
        unsafe { bindings::call_rcu(e.rcu.get(), Some(free_rcu)) };
        true
    }

    /// The bucket a hash falls in, in the current array.
    pub(crate) fn bucket_of(&self, hash: u32) -> u32 {
        let _g = rcu::read_lock();
        scale(hash, self.buckets().n)
    }

    /// Visits the entries (once each, by their original node) of up to
    /// `count` buckets from `start`, stopping at the end of the array.
    /// Returns the next bucket to visit, or 0 once the end was reached.
    pub(crate) fn scan<'g>(
        &self,
        _g: &'g rcu::Guard,
        start: u32,
        count: u32,
        mut f: impl FnMut(&'g Entry),
    ) -> u32 {
        let b = self.buckets();
        let start = if start >= b.n { 0 } else { start };
        let end = start.saturating_add(count).min(b.n);
        for i in start..end {
            let mut v = b.head(i).load(Ordering::Acquire);
            while !is_nulls(v) {
                // SAFETY: read from a chain under the RCU guard `_g`.
                let (e, d) = unsafe { entry_of::<'g>(v) };
                if d == 0 {
                    f(e);
                }
                v = e.nodes[d].next.load(Ordering::Acquire);
            }
        }
        if end >= b.n {
            0
        } else {
            end
        }
    }

    /// Rehashes every entry into `n` buckets under all stripe locks.
    pub(crate) fn resize(&self, n: u32) -> Result {
        let new = KBox::into_raw(Buckets::new(n.max(1))?);
        let old = {
            let _all = self.stripes.lock_all();
            self.gen.fetch_add(1, Ordering::AcqRel);
            // SAFETY: fresh allocation from `KBox::into_raw` above.
            let nb = unsafe { &*new };
            let old = self.buckets.load(Ordering::Acquire);
            // SAFETY: live array (invariant), stable under all locks.
            let ob = unsafe { &*old };
            for i in 0..ob.n {
                loop {
                    let v = ob.head(i).load(Ordering::Relaxed);
                    if is_nulls(v) {
                        break;
                    }
                    // SAFETY: read from a chain under its stripe lock.
                    let (e, d) = unsafe { entry_of(v) };
                    let dir = if d == 0 { Dir::Original } else { Dir::Reply };
                    ob.head(i)
                        .store(e.nodes[d].next.load(Ordering::Relaxed), Ordering::Release);
                    let j = scale(self.hash(&e.owner, &e.tuple_of(dir)), nb.n);
                    e.nodes[d]
                        .next
                        .store(nb.head(j).load(Ordering::Relaxed), Ordering::Release);
                    nb.head(j).store(v, Ordering::Release);
                }
            }
            self.buckets.store(new, Ordering::Release);
            self.gen.fetch_add(1, Ordering::AcqRel);
            old
        };
        sys::synchronize_rcu();
        // SAFETY: replaced above and a grace period has passed, so no reader
        // holds it; it came from `KBox::into_raw`.
        drop(unsafe { KBox::from_raw(old) });
        Ok(())
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // Free whatever is left (callers flush every namespace first).
        let mut next = 0;
        loop {
            let g = rcu::read_lock();
            next = self.scan(&g, next, 256, |e| {
                self.remove(e);
            });
            drop(g);
            if next == 0 {
                break;
            }
            sys::cond_resched();
        }
        // Wait for the RCU callbacks that free entries into the cache.
        sys::rcu_barrier();
        // SAFETY: every entry was freed above; no user of the cache is left.
        unsafe { bindings::kmem_cache_destroy(self.cache.as_ptr()) };
        CACHE.store(core::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: live array from `KBox::into_raw`; no reader left.
        drop(unsafe { KBox::from_raw(self.buckets.load(Ordering::Acquire)) });
    }
}
