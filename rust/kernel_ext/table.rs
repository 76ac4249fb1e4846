// SPDX-License-Identifier: GPL-2.0

//! A two-way RCU hash table with striped locks, generic over its key.
//!
//! This is the table nf_conntrack builds from `hlist_nulls`, made generic:
//! every entry has a key `K` and is linked twice, under the key of each of
//! its two directions (`K::dir(false)`, `K::dir(true)`), so one lookup finds
//! it from either direction of a connection. The two need not be mirror
//! images of each other (a connection rewritten by NAT is not). The tracker is its only user today; it names no tracker type
//! (the key is a [`TableKey`], the owner an opaque [`Owner`]), so all the
//! `unsafe` of the data structure lives in this one file, with its reasoning,
//! and the logic on top has none.
//!
//! * Entries come from a dedicated slab cache (`SLAB_NO_MERGE`, so its
//!   `/proc/slabinfo` line and object size mean what they say), or, for
//!   the few whose key needs more room ([`TableKey::Tail`]), from a second
//!   cache whose objects are the entry followed by the tail; they are linked
//!   into chains of a kvmalloc'd bucket array (outside the slab lowmem
//!   pressure entries add). A chain ends in a "nulls" marker that encodes its
//!   bucket.
//! * Lookups are lock-free under RCU. A resize makes the generation odd while
//!   it moves entries; readers wait for an even generation (as
//!   `read_seqcount_begin()` does), and restart when they end on another
//!   bucket's marker or the generation moved. After a bounded number of
//!   restarts they look up under the bucket's stripe lock, which a resize
//!   excludes, so a lookup never misses an entry that is in the table.
//! * Inserts and removals take the stripe locks of both buckets (lower index
//!   first, see [`Stripes`]) and re-check the generation under the locks.
//! * An entry is `NEW` until inserted, `LIVE` while linked, `DEAD` once
//!   unlinked; only a `LIVE` entry found in this table's chains is removed,
//!   so no safe call can unlink or free an entry twice. Removed entries are
//!   freed by an RCU callback, so a reference obtained under an
//!   [`rcu::Guard`] stays valid while the guard (and the table) lives: every
//!   returned `&Entry` is bounded by both.
//!
//! Node pointers carry two tag bits: bit 0 marks a nulls value, bit 1 the
//! direction of the node pointed to, so a node leads back to its entry.

use super::glue;
use super::hash::HashKey;
use super::stripes::{StripeGuard, Stripes};
use super::sys;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::{rcu, Arc};
use kernel::types::Opaque;

const NULLS: usize = 1;
const DIR_BIT: usize = 2;
const TAG_MASK: usize = 3;

/// Lock-free lookup attempts before a lookup takes the stripe lock.
const LOCKLESS_TRIES: u32 = 8;

fn nulls(bucket: u32) -> usize {
    ((bucket as usize) << 2) | NULLS
}

fn is_nulls(v: usize) -> bool {
    v & NULLS != 0
}

fn nulls_bucket(v: usize) -> u32 {
    (v >> 2) as u32
}

/// Whether a lock-free walk of bucket `idx` that found nothing may answer
/// "no entry": it ended on `idx`'s own nulls marker `end` (a resize did not
/// carry it onto another chain) and the generation read after the walk,
/// `gen_after`, is the even one read before it, `gen_before` (no resize
/// moved entries meanwhile). Anything else restarts the lookup.
pub(crate) fn miss_is_final(end: usize, idx: u32, gen_before: u32, gen_after: u32) -> bool {
    nulls_bucket(end) == idx && gen_after == gen_before
}

/// The nulls marker that ends chain `bucket` (for tests of
/// [`miss_is_final`]).
#[cfg(CONFIG_KUNIT)]
pub(crate) fn nulls_marker(bucket: u32) -> usize {
    nulls(bucket)
}

/// `reciprocal_scale()`: maps a hash onto `n` buckets without division.
fn scale(hash: u32, n: u32) -> u32 {
    ((u64::from(hash) * u64::from(n)) >> 32) as u32
}

/// A key of the table: the two directions of a connection.
///
/// The table does not trust an implementation to be consistent: one whose
/// hashes or comparisons change makes lookups miss (and removals refuse),
/// never more.
pub(crate) trait TableKey: Copy + Send + Sync + 'static {
    /// One direction's key: what a lookup looks for.
    type Dir: Copy + PartialEq;
    /// Key data that only some entries carry, passed to [`Table::alloc`]:
    /// such an entry comes from the table's second cache, whose objects
    /// are the entry followed by the tail, so the others do not pay for
    /// it. `Copy`: freeing an entry runs no code of the tail's.
    type Tail: Copy + Send + Sync + 'static;
    /// The key of the original (`false`) or reply (`true`) direction;
    /// `tail` is the entry's, if it has one.
    fn dir(&self, tail: Option<&Self::Tail>, reply: bool) -> Self::Dir;
    /// Whether direction `reply`'s key is `k`: `self.dir(tail, reply) ==
    /// *k`, which an implementation may answer without building the key
    /// (the chain walk asks it of every entry it passes).
    fn matches(&self, tail: Option<&Self::Tail>, reply: bool, k: &Self::Dir) -> bool {
        self.dir(tail, reply) == *k
    }
    /// The keyed hash of one direction's key for an owner with id `salt`.
    fn hash(d: &Self::Dir, key: &HashKey, salt: u32) -> u32;
    /// Per-entry data of the table's user beside the key and status
    /// (`Default` in a new entry), changed through shared references: its
    /// own atomics, serialised if need be by [`Table::lock_entry`].
    type Ext: Default + Send + Sync;
}

#[repr(C)]
struct Node {
    next: AtomicUsize,
}

/// Data shared by all entries of one owner (a network namespace).
pub(crate) struct Owner {
    /// Owner number (mixed into the hash).
    pub(crate) id: u32,
    /// Entries of this owner in the table, plus the reservations of its
    /// live [`NewEntry`] values.
    pub(crate) count: AtomicU32,
}

/// Reserves one below `max` in `c`; `false` if `c` is at `max` already.
fn reserve(c: &AtomicU32, max: u32) -> bool {
    let mut v = c.load(Ordering::Relaxed);
    loop {
        if v >= max {
            return false;
        }
        match c.compare_exchange_weak(v, v + 1, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(cur) => v = cur,
        }
    }
}

const NEW: u8 = 0;
const LIVE: u8 = 1;
const DEAD: u8 = 2;

/// A table entry.
///
/// Aligned to 8 so that its size is a whole slab slot on i386 too (68 bytes
/// would take a 72-byte slot): the cache's object size then is the real cost.
///
/// # Invariants
///
/// If `wide` is set the entry is the `e` field of a [`WideEntry`] (from
/// the table's wide cache), whose `tail` is initialised.
#[repr(C, align(8))]
pub(crate) struct Entry<K: TableKey> {
    nodes: [Node; 2],
    owner: Arc<Owner>,
    /// Expiry time in jiffies.
    pub(crate) expires: AtomicUsize,
    /// Status word, owned by the table's user.
    pub(crate) status: AtomicU32,
    /// `NEW`, `LIVE` or `DEAD`; changes only under the entry's stripe locks.
    state: AtomicU8,
    /// Whether a tail follows the entry (set once, before publication; in
    /// the padding after `state`, so free).
    wide: bool,
    /// The connection's key (both directions).
    pub(crate) key: K,
    /// The user's per-entry data.
    pub(crate) ext: K::Ext,
    rcu: Opaque<bindings::callback_head>,
}

impl<K: TableKey> Entry<K> {
    /// Whether the entry belongs to `owner`.
    pub(crate) fn belongs_to(&self, owner: &Owner) -> bool {
        core::ptr::eq(&*self.owner, owner)
    }

    /// Entries of the entry's owner (see [`Owner::count`]).
    pub(crate) fn owner_count(&self) -> u32 {
        self.owner.count.load(Ordering::Relaxed)
    }

    /// Whether the entry was removed from the table.
    pub(crate) fn is_dead(&self) -> bool {
        self.state.load(Ordering::Acquire) == DEAD
    }

    /// The key of direction `reply`.
    pub(crate) fn key_of(&self, reply: bool) -> K::Dir {
        self.key.dir(self.tail(), reply)
    }

    /// Whether direction `reply`'s key is `k`.
    #[inline]
    fn matches(&self, reply: bool, k: &K::Dir) -> bool {
        self.key.matches(self.tail(), reply, k)
    }

    /// The entry's key tail, if it has one.
    #[inline]
    pub(crate) fn tail(&self) -> Option<&K::Tail> {
        if !self.wide {
            return None;
        }
        let w = core::ptr::from_ref(self).cast::<WideEntry<K>>();
        // SAFETY: a wide entry is the first field of a `repr(C)`
        // `WideEntry` with an initialised tail (invariant), which lives as
        // long as the entry does. Every `&Entry` of this table is made
        // from a pointer to the whole slab object (`entry_of()`,
        // `NewEntry::entry()`), and the step back out of the field is
        // `container_of!`'s, which the kernel crate relies on too.
        Some(unsafe { &(*w).tail })
    }

    fn node_value(&self, d: usize) -> usize {
        (core::ptr::from_ref::<Node>(&self.nodes[d]) as usize) | (d << 1)
    }
}

/// An entry with a key tail: the objects of a table's wide cache.
#[repr(C)]
struct WideEntry<K: TableKey> {
    e: Entry<K>,
    tail: K::Tail,
}

/// Maps a (non-nulls) chain value back to its entry and node direction.
///
/// # Safety
///
/// `v` must be a value read from a chain of a table while the entry it
/// designates cannot have been freed: under the RCU read lock, or under the
/// bucket's stripe lock. The returned reference must not outlive that.
unsafe fn entry_of<'a, K: TableKey>(v: usize) -> (&'a Entry<K>, usize) {
    let d = (v & DIR_BIT) >> 1;
    let node = (v & !TAG_MASK) as *const Node;
    // SAFETY: chain values point at `nodes[d]` of a live entry (caller's
    // requirement), so stepping back `d` nodes and the field offset yields
    // the entry.
    let e = unsafe {
        node.sub(d)
            .byte_sub(core::mem::offset_of!(Entry<K>, nodes))
            .cast::<Entry<K>>()
    };
    // SAFETY: see above; the entry lives at least as long as the caller's
    // RCU guard or lock.
    (unsafe { &*e }, d)
}

/// A bucket array.
///
/// # Invariants
///
/// `heads` points to `n >= 1` initialised `AtomicUsize` allocated by kvcalloc.
struct Buckets {
    heads: NonNull<AtomicUsize>,
    n: u32,
}

impl Buckets {
    fn new(n: u32) -> Result<KBox<Self>> {
        let n = n.max(1);
        // SAFETY: plain allocation.
        let p = unsafe { glue::rct_kvcalloc(n as usize, core::mem::size_of::<AtomicUsize>()) };
        let heads = NonNull::new(p.cast::<AtomicUsize>()).ok_or(ENOMEM)?;
        for i in 0..n {
            // SAFETY: `i < n`, inside the zeroed allocation; AtomicUsize has
            // the layout of usize and zero is a valid value.
            unsafe { (*heads.as_ptr().add(i as usize)).store(nulls(i), Ordering::Relaxed) };
        }
        let b = KBox::new(Buckets { heads, n }, GFP_KERNEL);
        if b.is_err() {
            // SAFETY: allocated above, never published.
            unsafe { bindings::kvfree(p) };
        }
        // INVARIANT: allocated and initialised above.
        Ok(b?)
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

/// RCU callback freeing a removed entry.
///
/// # Safety
///
/// `head` must be the `rcu` field of an `Entry<K>` handed to `call_rcu()` by
/// [`Table::remove_if`].
unsafe extern "C" fn free_rcu<K: TableKey>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` field of an entry passed to `call_rcu()`
    // by `Table::remove_if()`; the entry is unlinked and a grace period has
    // elapsed, so nothing else references it. `kfree()` frees objects of
    // any slab cache; the table's `Drop` waits for these callbacks
    // (`rcu_barrier()`) before destroying the cache.
    unsafe {
        let e = kernel::container_of!(Opaque::cast_from(head), Entry<K>, rcu).cast_mut();
        core::ptr::drop_in_place(e);
        bindings::kfree(e.cast());
    }
}

/// An allocated entry that is not in the table yet; on drop it is freed and
/// its reservations in the table's and its owner's counts released.
pub(crate) struct NewEntry<'t, K: TableKey> {
    e: NonNull<Entry<K>>,
    table: &'t Table<K>,
}

impl<K: TableKey> NewEntry<'_, K> {
    /// The entry (`NEW`: [`Table::remove_if`] refuses it).
    pub(crate) fn entry(&self) -> &Entry<K> {
        // SAFETY: owned, initialised entry.
        unsafe { self.e.as_ref() }
    }
}

impl<K: TableKey> Drop for NewEntry<'_, K> {
    fn drop(&mut self) {
        self.table.count.fetch_sub(1, Ordering::Relaxed);
        self.entry().owner.count.fetch_sub(1, Ordering::Relaxed);
        let cache = if self.entry().wide {
            self.table.wide.fetch_sub(1, Ordering::Relaxed);
            self.table.wide_cache
        } else {
            self.table.cache
        };
        // SAFETY: never published, so nobody else can see it; initialised
        // by `Table::alloc()` from `cache` (the wide one if `wide` is set,
        // by the entry's invariant). The tail is `Copy`: nothing to drop.
        unsafe {
            core::ptr::drop_in_place(self.e.as_ptr());
            bindings::kmem_cache_free(cache.as_ptr(), self.e.as_ptr().cast());
        }
    }
}

/// Why no entry could be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocError {
    /// The owner holds its `owner_max` entries already.
    OwnerFull,
    /// The table holds its `table_max` entries already.
    TableFull,
    /// The slab allocation failed.
    NoMemory,
}

/// Result of a lookup.
pub(crate) struct Found<'a, K: TableKey> {
    /// The entry.
    pub(crate) entry: &'a Entry<K>,
    /// Whether the key looked up was the entry's reply-direction key.
    pub(crate) reply: bool,
}

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// Another CPU inserted the same key first.
    Clash,
    /// The chain is already at its length cap.
    ChainTooLong,
    /// The entry was allocated from another table.
    Foreign,
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
/// replaced array is freed only after a grace period. Every `LIVE` entry
/// linked in it was allocated from `cache`, or from `wide_cache` if it is
/// wide; `count` counts them plus the reservations of live [`NewEntry`]
/// values, `wide` the wide ones among them.
pub(crate) struct Table<K: TableKey> {
    cache: NonNull<bindings::kmem_cache>,
    wide_cache: NonNull<bindings::kmem_cache>,
    buckets: AtomicPtr<Buckets>,
    /// Odd while a resize moves entries (a seqcount).
    gen: AtomicU32,
    stripes: Stripes,
    key: HashKey,
    count: AtomicU32,
    wide: AtomicU32,
    object_size: u32,
    wide_object_size: u32,
    /// Lock-free lookup attempts before the locked walk.
    lockless_tries: u32,
    _k: core::marker::PhantomData<K>,
}

// SAFETY: all shared state is atomic or protected by the stripe locks; the
// keys are `Send + Sync`.
unsafe impl<K: TableKey> Send for Table<K> {}
// SAFETY: as above.
unsafe impl<K: TableKey> Sync for Table<K> {}

/// Longest chain an insert accepts (nf_conntrack's `MAX_CHAINLEN`).
pub(crate) const MAX_CHAIN: u32 = 64;

/// Allocation flags for entries: atomic, quiet, and never from the
/// emergency reserves (swap-over-network needs them more than we do).
pub(crate) const GFP_PACKET: bindings::gfp_t =
    bindings::GFP_ATOMIC | bindings::__GFP_NOWARN | (1 << bindings::___GFP_NOMEMALLOC_BIT);

impl<K: TableKey> Table<K> {
    /// Creates the caches (`names`: the entries', the wide entries') and a
    /// table of `nbuckets` buckets and `nlocks` stripes. `hash_key` fixes
    /// the hash key (tests that craft chain collisions); `None` draws a
    /// random one.
    pub(crate) fn new(
        names: [&'static CStr; 2],
        nbuckets: u32,
        nlocks: usize,
        hash_key: Option<[u32; 2]>,
    ) -> Result<Self> {
        let stripes = Stripes::new(nlocks)?;
        let buckets = KBox::into_raw(Buckets::new(nbuckets)?);
        let layouts = [
            core::alloc::Layout::new::<Entry<K>>(),
            core::alloc::Layout::new::<WideEntry<K>>(),
        ];
        let mut caches = [core::ptr::null_mut(); 2];
        for (c, (name, l)) in caches.iter_mut().zip(names.iter().zip(layouts)) {
            // SAFETY: `name` is a static C string; size and alignment are
            // the objects'.
            *c = unsafe {
                glue::rct_cache_create(name.as_char_ptr(), l.size() as u32, l.align() as u32)
            };
        }
        let (Some(cache), Some(wide_cache)) = (NonNull::new(caches[0]), NonNull::new(caches[1]))
        else {
            for c in caches {
                // SAFETY: a cache created above with no object, or null
                // (which `kmem_cache_destroy()` ignores).
                unsafe { bindings::kmem_cache_destroy(c) };
            }
            // SAFETY: from `KBox::into_raw` above, never published.
            drop(unsafe { KBox::from_raw(buckets) });
            return Err(ENOMEM);
        };
        // SAFETY: valid caches.
        let (object_size, wide_object_size) = unsafe {
            (
                glue::rct_cache_object_size(cache.as_ptr()),
                glue::rct_cache_object_size(wide_cache.as_ptr()),
            )
        };
        // INVARIANT: fresh array and caches, no entry.
        Ok(Table {
            cache,
            wide_cache,
            buckets: AtomicPtr::new(buckets),
            gen: AtomicU32::new(0),
            stripes,
            key: match hash_key {
                Some(k) => HashKey::fixed(k),
                None => HashKey::random(),
            },
            count: AtomicU32::new(0),
            wide: AtomicU32::new(0),
            object_size,
            wide_object_size,
            lockless_tries: LOCKLESS_TRIES,
            _k: core::marker::PhantomData,
        })
    }

    /// Sets the lock-free lookup attempts (0: every lookup takes the
    /// locked walk; tests of that path).
    pub(crate) fn with_lockless_tries(mut self, n: u32) -> Self {
        self.lockless_tries = n;
        self
    }

    fn buckets(&self) -> &Buckets {
        // SAFETY: always a live array (invariant); callers hold the RCU read
        // lock or a stripe lock, which keeps it alive.
        unsafe { &*self.buckets.load(Ordering::Acquire) }
    }

    /// Waits until no resize is moving entries; returns the generation.
    ///
    /// Bounded by the resize in progress on another CPU, as nf_conntrack's
    /// `read_seqcount_begin(&nf_conntrack_generation)`; a resize runs with
    /// bottom halves disabled, so it never waits for this CPU.
    fn stable_gen(&self) -> u32 {
        loop {
            let g = self.gen.load(Ordering::Acquire);
            if g & 1 == 0 {
                return g;
            }
            sys::cpu_relax();
        }
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

    /// Slab object size of one entry with a key tail.
    pub(crate) fn wide_object_size(&self) -> u32 {
        self.wide_object_size
    }

    /// Entries with a key tail among [`Table::count`].
    pub(crate) fn wide_count(&self) -> u32 {
        self.wide.load(Ordering::Relaxed)
    }

    /// Entries in the table (all owners), including reservations.
    pub(crate) fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// The keyed hash of direction key `k` for `owner`.
    #[inline]
    pub(crate) fn hash(&self, owner: &Owner, k: &K::Dir) -> u32 {
        K::hash(k, &self.key, owner.id)
    }

    /// Walks chain `idx` of `b` for an entry of `owner` one of whose
    /// directions is `k`.
    ///
    /// Returns the hit, or the chain's final nulls value.
    fn walk<'a>(
        b: &Buckets,
        idx: u32,
        owner: &Owner,
        k: &K::Dir,
    ) -> core::result::Result<Found<'a, K>, usize> {
        let mut v = b.head(idx).load(Ordering::Acquire);
        while !is_nulls(v) {
            // SAFETY: read from a chain under the RCU guard or stripe lock
            // of the caller, which bounds `'a`.
            let (e, d) = unsafe { entry_of::<'a, K>(v) };
            if e.belongs_to(owner) {
                if e.matches(d == 1, k) {
                    return Ok(Found {
                        entry: e,
                        reply: d == 1,
                    });
                }
            }
            v = e.nodes[d].next.load(Ordering::Acquire);
        }
        Err(v)
    }

    /// Finds the entry of `k` for `owner`; `restarts` counts lock-free
    /// attempts that a concurrent resize invalidated.
    pub(crate) fn lookup<'a>(
        &'a self,
        _g: &'a rcu::Guard,
        owner: &Owner,
        k: &K::Dir,
        restarts: &mut u32,
    ) -> Option<Found<'a, K>> {
        let h = self.hash(owner, k);
        for _ in 0..self.lockless_tries {
            let seq = self.stable_gen();
            let b = self.buckets();
            let idx = scale(h, b.n);
            match Self::walk(b, idx, owner, k) {
                Ok(f) => return Some(f),
                Err(end) => {
                    if miss_is_final(end, idx, seq, self.gen.load(Ordering::Acquire)) {
                        return None;
                    }
                }
            }
            *restarts += 1;
        }
        // Resizes keep overtaking the lock-free walk: walk under the
        // bucket's stripe lock, which a resize excludes.
        let l = self.lock_pair([h, h]);
        Self::walk(l.b, l.idx[0], owner, k).ok()
    }

    /// Reserves a place below `owner_max` entries of `owner` and below
    /// `table_max` in the table, and allocates an entry for it (`GFP_ATOMIC`,
    /// no warning, no emergency reserve), from the wide cache if the key
    /// has a `tail`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn alloc(
        &self,
        owner: &Arc<Owner>,
        key: K,
        tail: Option<K::Tail>,
        status: u32,
        expires: usize,
        owner_max: u32,
        table_max: u32,
    ) -> core::result::Result<NewEntry<'_, K>, AllocError> {
        if !reserve(&owner.count, owner_max) {
            return Err(AllocError::OwnerFull);
        }
        if !reserve(&self.count, table_max) {
            owner.count.fetch_sub(1, Ordering::Relaxed);
            return Err(AllocError::TableFull);
        }
        let cache = if tail.is_some() {
            self.wide_cache
        } else {
            self.cache
        };
        // SAFETY: valid cache (invariant).
        let p = unsafe { glue::rct_cache_alloc(cache.as_ptr(), GFP_PACKET) };
        let Some(e) = NonNull::new(p.cast::<Entry<K>>()) else {
            self.count.fetch_sub(1, Ordering::Relaxed);
            owner.count.fetch_sub(1, Ordering::Relaxed);
            return Err(AllocError::NoMemory);
        };
        if let Some(tail) = tail {
            self.wide.fetch_add(1, Ordering::Relaxed);
            // SAFETY: a fresh object of the wide cache: a `WideEntry`'s
            // size and alignment; the entry is written below.
            unsafe { core::ptr::addr_of_mut!((*p.cast::<WideEntry<K>>()).tail).write(tail) };
        }
        // INVARIANT: `wide` is set exactly for an object of the wide cache,
        // whose tail was written above.
        // SAFETY: fresh object of (at least) the entry's size and alignment.
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
                owner: owner.clone(),
                expires: AtomicUsize::new(expires),
                status: AtomicU32::new(status),
                state: AtomicU8::new(NEW),
                wide: tail.is_some(),
                key,
                ext: K::Ext::default(),
                rcu: Opaque::uninit(),
            })
        };
        Ok(NewEntry { e, table: self })
    }

    /// Locks the buckets of hashes `h` in the current array, retrying across
    /// a concurrent resize (the generation must be even and unchanged once
    /// the stripes are held; a resize excludes every stripe holder).
    fn lock_pair(&self, h: [u32; 2]) -> Locked<'_> {
        loop {
            let seq = self.stable_gen();
            let rcu = rcu::read_lock();
            let b = self.buckets();
            let idx = [scale(h[0], b.n), scale(h[1], b.n)];
            let g = self
                .stripes
                .lock2(self.stripes.index(idx[0]), self.stripes.index(idx[1]));
            if self.gen.load(Ordering::Acquire) == seq {
                return Locked {
                    b,
                    idx,
                    _g: g,
                    _rcu: rcu,
                };
            }
        }
    }

    /// Locks the entry `e` against other holders of its lock: a stripe
    /// chosen by the entry's address, so the same for the entry's whole
    /// life whatever resizes do. For the user's per-entry data (`ext`,
    /// `status`, `expires`) only: it does not exclude chain changes, and
    /// does not wait for a resize. Bottom halves stay disabled while the
    /// guard lives; nothing else may be locked under it.
    pub(crate) fn lock_entry(&self, e: &Entry<K>) -> StripeGuard<'_> {
        let a = core::ptr::from_ref(e) as usize as u32;
        // Entries are at least 8-byte aligned; mix the rest (Fibonacci
        // hashing, 32-bit: no 64-bit arithmetic on i386).
        let i = (a >> 3).wrapping_mul(0x9e37_79b1) >> 16;
        self.stripes.lock_plain(self.stripes.index(i))
    }

    /// Inserts both directions of `new`, refusing clashes and chains longer
    /// than `MAX_CHAIN`. On error the entry is freed.
    pub(crate) fn insert(&self, new: NewEntry<'_, K>) -> core::result::Result<(), InsertError> {
        if !core::ptr::eq(new.table, self) {
            return Err(InsertError::Foreign);
        }
        let e = new.entry();
        let keys = [e.key_of(false), e.key_of(true)];
        let h = [self.hash(&e.owner, &keys[0]), self.hash(&e.owner, &keys[1])];
        let l = self.lock_pair(h);
        let (b, idx) = (l.b, l.idx);
        for (i, want) in [(idx[0], &keys[0]), (idx[1], &keys[1])] {
            let mut len = 0;
            let mut v = b.head(i).load(Ordering::Relaxed);
            while !is_nulls(v) {
                // SAFETY: read from a chain under its stripe lock.
                let (x, d) = unsafe { entry_of::<K>(v) };
                if x.belongs_to(&e.owner) && x.matches(d == 1, want) {
                    return Err(InsertError::Clash);
                }
                len += 1;
                if len >= MAX_CHAIN {
                    return Err(InsertError::ChainTooLong);
                }
                v = x.nodes[d].next.load(Ordering::Relaxed);
            }
        }
        e.state.store(LIVE, Ordering::Relaxed);
        for (d, &i) in idx.iter().enumerate() {
            let head = b.head(i);
            e.nodes[d]
                .next
                .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
            // Publishes the initialised entry to RCU readers.
            head.store(e.node_value(d), Ordering::Release);
        }
        // The reservations made by `alloc()` now count the entry.
        // The table owns the entry now.
        core::mem::forget(new);
        Ok(())
    }

    /// Unlinks node `d` of `e` from chain `i` of `b`; caller holds the lock.
    /// Returns `false`, changing nothing, if the node is not in the chain.
    fn unlink(b: &Buckets, i: u32, e: &Entry<K>, d: usize) -> bool {
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
            let (x, xd) = unsafe { entry_of::<K>(v) };
            slot = &x.nodes[xd].next;
        }
    }

    /// Removes `e` and frees it after a grace period. Returns `false` if it
    /// is not in this table (already removed, never inserted, or another
    /// table's).
    pub(crate) fn remove(&self, e: &Entry<K>) -> bool {
        self.remove_if(e, |_| true)
    }

    /// Removes `e` if `pred` holds under the entry's locks (a decision made
    /// outside them, such as "expired", may be stale by then).
    ///
    /// `pred` runs under two stripe spinlocks with bottom halves disabled: it
    /// must not sleep or call back into this table.
    pub(crate) fn remove_if(&self, e: &Entry<K>, pred: impl FnOnce(&Entry<K>) -> bool) -> bool {
        if e.state.load(Ordering::Acquire) != LIVE {
            return false;
        }
        let h = [
            self.hash(&e.owner, &e.key_of(false)),
            self.hash(&e.owner, &e.key_of(true)),
        ];
        let l = self.lock_pair(h);
        let (b, idx) = (l.b, l.idx);
        if e.state.load(Ordering::Relaxed) != LIVE || !pred(e) {
            return false;
        }
        // An entry of another table is in none of these chains: nothing is
        // changed then.
        if !Self::unlink(b, idx[0], e, 0) {
            return false;
        }
        if !Self::unlink(b, idx[1], e, 1) {
            // Cannot happen: both nodes are linked while `LIVE`. Leak the
            // entry rather than free what a chain may still reach.
            pr_err!("entry missing from its reply chain\n");
            e.state.store(DEAD, Ordering::Release);
            return false;
        }
        e.state.store(DEAD, Ordering::Release);
        self.count.fetch_sub(1, Ordering::Relaxed);
        if e.wide {
            self.wide.fetch_sub(1, Ordering::Relaxed);
        }
        e.owner.count.fetch_sub(1, Ordering::Relaxed);
        drop(l);
        // SAFETY: `e` is unlinked from both chains under their locks and
        // marked dead, so no new reference can be taken; existing ones are
        // RCU readers (bounded by their guard), which `call_rcu()` waits
        // for. `rcu` is unused until now: the LIVE -> DEAD transition
        // happens once, under the lock.
        unsafe { bindings::call_rcu(e.rcu.get(), Some(free_rcu::<K>)) };
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
    ///
    /// A resize running meanwhile may make the walk miss or repeat entries
    /// (as a dump of nf_conntrack's table can). `f` runs under the RCU read
    /// lock: it must not sleep.
    pub(crate) fn scan<'a>(
        &'a self,
        _g: &'a rcu::Guard,
        start: u32,
        count: u32,
        mut f: impl FnMut(&'a Entry<K>),
    ) -> u32 {
        self.stable_gen();
        let b = self.buckets();
        let start = if start >= b.n { 0 } else { start };
        let end = start.saturating_add(count).min(b.n);
        for i in start..end {
            let mut v = b.head(i).load(Ordering::Acquire);
            while !is_nulls(v) {
                // SAFETY: read from a chain under the RCU guard `_g`, which
                // bounds `'a`.
                let (e, d) = unsafe { entry_of::<'a, K>(v) };
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

    /// Visits the entries (by their original node) of bucket `bucket`, if
    /// the table still has that many buckets (a listing may run into a
    /// shrink).
    pub(crate) fn scan_bucket<'a>(
        &'a self,
        g: &'a rcu::Guard,
        bucket: u32,
        f: impl FnMut(&'a Entry<K>),
    ) {
        self.stable_gen();
        if bucket < self.buckets().n {
            self.scan(g, bucket, 1, f);
        }
    }

    /// Rehashes every entry into `n` buckets while every stripe holder is
    /// excluded, then frees the old array after a grace period (nothing to
    /// do if it has `n` already).
    pub(crate) fn resize(&self, n: u32) -> Result {
        if self.nbuckets() == n.max(1) {
            return Ok(());
        }
        let new = KBox::into_raw(Buckets::new(n)?);
        let old = {
            let _all = self.stripes.lock_all();
            // Odd: readers wait, lockers re-check. The release stores of
            // the moves below order this increment before them.
            self.gen.fetch_add(1, Ordering::AcqRel);
            // SAFETY: fresh allocation from `KBox::into_raw` above.
            let nb = unsafe { &*new };
            let old = self.buckets.load(Ordering::Acquire);
            // SAFETY: live array (invariant), stable: every stripe holder
            // is excluded.
            let ob = unsafe { &*old };
            for i in 0..ob.n {
                loop {
                    let v = ob.head(i).load(Ordering::Relaxed);
                    if is_nulls(v) {
                        break;
                    }
                    // SAFETY: read from a chain while all stripes are
                    // excluded.
                    let (e, d) = unsafe { entry_of::<K>(v) };
                    ob.head(i)
                        .store(e.nodes[d].next.load(Ordering::Relaxed), Ordering::Release);
                    let j = scale(self.hash(&e.owner, &e.key_of(d == 1)), nb.n);
                    e.nodes[d]
                        .next
                        .store(nb.head(j).load(Ordering::Relaxed), Ordering::Release);
                    nb.head(j).store(v, Ordering::Release);
                }
            }
            self.buckets.store(new, Ordering::Release);
            self.gen.fetch_add(1, Ordering::Release);
            old
        };
        // Waits for lock-free readers still walking the old array.
        sys::synchronize_rcu();
        // SAFETY: replaced above and a grace period has passed, so no reader
        // holds it; it came from `KBox::into_raw`.
        drop(unsafe { KBox::from_raw(old) });
        Ok(())
    }
}

impl<K: TableKey> Drop for Table<K> {
    fn drop(&mut self) {
        // Free whatever is left (users empty the table first). A pass can
        // miss nothing here: no resize or insert runs any more.
        for _ in 0..2 {
            if self.count() == 0 {
                break;
            }
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
        }
        // Waits for the RCU callbacks that free entries into the caches.
        sys::rcu_barrier();
        // SAFETY: every entry was freed above and no `NewEntry` can outlive
        // the borrow of `self` it holds; no user of the caches is left.
        unsafe {
            bindings::kmem_cache_destroy(self.cache.as_ptr());
            bindings::kmem_cache_destroy(self.wide_cache.as_ptr());
        }
        // SAFETY: live array from `KBox::into_raw`; no reader left.
        drop(unsafe { KBox::from_raw(self.buckets.load(Ordering::Acquire)) });
    }
}
