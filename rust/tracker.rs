// SPDX-License-Identifier: GPL-2.0

//! The connection tracker: what happens to a packet at each hook, early
//! drop, garbage collection, per-namespace state and the /proc output.
//!
//! Safe code only: every FFI call goes through `kernel_ext`.
//!
//! Packets meet the tracker twice, as in nf_conntrack: at PRE_ROUTING or
//! LOCAL_OUT ([`Tracker::track`]) the packet is parsed and looked up and an
//! existing entry is updated; at LOCAL_IN or POST_ROUTING
//! ([`Tracker::confirm`]), after every other hook had its chance to drop the
//! packet, a new connection is inserted. So an entry exists only for packets
//! that were not dropped.

use crate::kernel_ext::netns::{Hook, HookSpec, Net, Verdict};
use crate::kernel_ext::percpu::{possible_cpus, PerCpuCounters};
use crate::kernel_ext::procfs::{ProcEntry, ProcKind, SeqWriter};
use crate::kernel_ext::skb::Skb;
use crate::kernel_ext::sys;
use crate::kernel_ext::sysctl::{KnobSpec, SysctlTable};
use crate::kernel_ext::table::{Entry, Found, InsertError, NetShared, Table};
use crate::knobs::{self, Settings};
use crate::proto::{self, status, Dir, TcpState, TimeoutKind};
use crate::tuple::{self, Invalid, Parsed, Tuple, NFPROTO_IPV4, NFPROTO_IPV6};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::{rcu, Arc};

/// Per-CPU statistics, in `/proc/net/stat/rconntrack` column order.
#[derive(Clone, Copy)]
pub(crate) enum Stat {
    /// Packets of a known connection.
    Found = 0,
    /// Connections created.
    New,
    /// Malformed or untrackable packets.
    Invalid,
    /// Inserts into the table.
    Insert,
    /// Inserts refused (clash with another CPU, chain too long).
    InsertFailed,
    /// Packets dropped because the table was full.
    Drop,
    /// Entries evicted to make room.
    EarlyDrop,
    /// Entry allocations that failed (packet dropped).
    AllocFailed,
    /// Lookups restarted because of a concurrent resize or move.
    SearchRestart,
    /// Inserts refused because the chain was too long.
    ChainTooLong,
}

/// Number of statistics.
pub(crate) const NSTATS: usize = 10;

const STAT_NAMES: [&str; NSTATS] = [
    "found",
    "new",
    "invalid",
    "insert",
    "insert_failed",
    "drop",
    "early_drop",
    "alloc_failed",
    "search_restart",
    "chaintoolong",
];

/// Buckets examined around a new tuple's bucket for an early-drop victim.
const EARLY_DROP_BUCKETS: u32 = 8;

/// Hook priorities, next to nf_conntrack's: just after its lookup
/// (`NF_IP_PRI_CONNTRACK` = -200) and just before its confirmation
/// (`NF_IP_PRI_CONNTRACK_CONFIRM` = INT_MAX), so both can run side by side
/// and see the same packets.
pub(crate) const PRI_TRACK: i32 = -200 + 1;
/// See [`PRI_TRACK`].
pub(crate) const PRI_CONFIRM: i32 = i32::MAX - 1;

/// The hooks, for IPv4 and IPv6.
pub(crate) const HOOKS: [HookSpec; 8] = [
    hs(NFPROTO_IPV4, Hook::PreRouting, PRI_TRACK),
    hs(NFPROTO_IPV4, Hook::LocalOut, PRI_TRACK),
    hs(NFPROTO_IPV4, Hook::LocalIn, PRI_CONFIRM),
    hs(NFPROTO_IPV4, Hook::PostRouting, PRI_CONFIRM),
    hs(NFPROTO_IPV6, Hook::PreRouting, PRI_TRACK),
    hs(NFPROTO_IPV6, Hook::LocalOut, PRI_TRACK),
    hs(NFPROTO_IPV6, Hook::LocalIn, PRI_CONFIRM),
    hs(NFPROTO_IPV6, Hook::PostRouting, PRI_CONFIRM),
];

const fn hs(pf: u8, hook: Hook, priority: i32) -> HookSpec {
    HookSpec { pf, hook, priority }
}

/// Per-namespace state.
pub(crate) struct NetState {
    /// Shared with every entry of the namespace.
    pub(crate) shared: Arc<NetShared>,
    stats: PerCpuCounters<NSTATS>,
    is_init: bool,
    // Dropped first (field order): unregister before the rest goes.
    _sysctl: Option<SysctlTable>,
    _proc: Option<ProcEntry>,
    _stat: Option<ProcEntry>,
}

impl NetState {
    fn inc(&self, s: Stat) {
        self.stats.inc(s as usize);
    }

    /// Whether this is the initial namespace (where global knobs are
    /// writable).
    pub(crate) fn is_init(&self) -> bool {
        self.is_init
    }
}

/// The tracker.
pub(crate) struct Tracker {
    /// The connection table.
    pub(crate) table: Table,
    /// Global settings (sysctls).
    pub(crate) settings: Settings,
    gc_next: AtomicU32,
    gc_last_count: AtomicU32,
}

impl Tracker {
    /// Creates the table and settings.
    pub(crate) fn new(settings: Settings, nbuckets: u32) -> Result<Self> {
        // Fewer stripes under lockdep keeps its chain tracking cheap.
        let nlocks = if cfg!(CONFIG_LOCKDEP) { 64 } else { 1024 };
        let table = Table::new(c"rconntrack", nbuckets, nlocks)?;
        Ok(Tracker {
            table,
            settings,
            gc_next: AtomicU32::new(0),
            gc_last_count: AtomicU32::new(0),
        })
    }

    /// Sets up a namespace: counters, sysctls, /proc files.
    pub(crate) fn net_init(&self, net: &Net<'_>) -> Result<KBox<NetState>> {
        let shared = Arc::new(
            NetShared {
                id: net.inum(),
                count: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?;
        let mut st = KBox::new(
            NetState {
                shared,
                stats: PerCpuCounters::new()?,
                is_init: net.is_init(),
                _sysctl: None,
                _proc: None,
                _stat: None,
            },
            GFP_KERNEL,
        )?;
        let specs: KVec<KnobSpec> = knobs::specs()?;
        st._sysctl = Some(SysctlTable::register(net, &specs, !net.is_init())?);
        st._proc = Some(ProcEntry::create(net, ProcKind::Table)?);
        st._stat = Some(ProcEntry::create(net, ProcKind::Stat)?);
        Ok(st)
    }

    /// Tears a namespace down: its hooks are already unregistered.
    pub(crate) fn net_exit(&self, _net: &Net<'_>, st: KBox<NetState>) {
        self.flush(&st.shared);
        drop(st);
    }

    /// Removes every entry of a namespace.
    fn flush(&self, ns: &NetShared) {
        let mut next = 0;
        loop {
            let g = rcu::read_lock();
            next = self.table.scan(&g, next, 256, |e| {
                if e.belongs_to(ns) {
                    self.table.remove(e);
                }
            });
            drop(g);
            if next == 0 {
                break;
            }
            sys::cond_resched();
        }
    }

    /// A packet at a hook.
    pub(crate) fn hook(&self, ns: &NetState, skb: &Skb<'_>, hook: Hook, pf: u8) -> Verdict {
        let parsed = match pf {
            NFPROTO_IPV4 => tuple::parse_ipv4(skb),
            NFPROTO_IPV6 => tuple::parse_ipv6(skb),
            _ => return Verdict::Accept,
        };
        let confirm = matches!(hook, Hook::LocalIn | Hook::PostRouting);
        match parsed {
            Parsed::Ignore => Verdict::Accept,
            // Counted once, where the packet enters.
            Parsed::Invalid(_) if confirm => Verdict::Accept,
            Parsed::Invalid(why) => self.invalid(ns, why),
            Parsed::Track(t, flags) if confirm => self.confirm(ns, &t, flags),
            Parsed::Track(t, flags) => self.track(ns, &t, flags),
        }
    }

    fn invalid(&self, ns: &NetState, why: Invalid) -> Verdict {
        ns.inc(Stat::Invalid);
        if self.settings.log_invalid() && sys::net_ratelimit() {
            pr_info!("invalid packet: {:?}\n", why);
        }
        if self.settings.drop_invalid() {
            Verdict::Drop
        } else {
            Verdict::Accept
        }
    }

    fn expired(e: &Entry, now: usize) -> bool {
        sys::time_after_eq(now, e.expires.load(Ordering::Relaxed))
    }

    fn timeout_jiffies(&self, k: TimeoutKind) -> usize {
        sys::secs_to_jiffies(self.settings.timeout(k))
    }

    /// Looks `t` up in `ns`, counting search restarts.
    fn lookup<'g>(&self, g: &'g rcu::Guard, ns: &NetState, t: &Tuple) -> Option<Found<'g>> {
        let mut restarts = 0;
        let found = self.table.lookup(g, &ns.shared, t, &mut restarts);
        for _ in 0..restarts {
            ns.inc(Stat::SearchRestart);
        }
        found
    }

    /// PRE_ROUTING / LOCAL_OUT: update a known connection.
    fn track(&self, ns: &NetState, t: &Tuple, flags: u8) -> Verdict {
        let g = rcu::read_lock();
        let now = sys::jiffies();
        let found = self.lookup(&g, ns, t);
        match found {
            Some(f) if !Self::expired(f.entry, now) => {
                ns.inc(Stat::Found);
                self.update(ns, f.entry, f.dir, flags, now)
            }
            found => {
                if let Some(f) = found {
                    // Expired: gone for lookups; the confirm step makes a
                    // fresh entry.
                    self.table.remove(f.entry);
                }
                if tuple::can_create(t, flags) {
                    Verdict::Accept
                } else {
                    self.invalid(ns, Invalid::CannotCreate)
                }
            }
        }
    }

    /// Applies a packet to an entry's state (lock-free CAS on the status).
    fn update(&self, ns: &NetState, e: &Entry, dir: Dir, flags: u8, now: usize) -> Verdict {
        let mut st = e.status.load(Ordering::Relaxed);
        loop {
            let u = proto::update(&e.tuple, st, dir, flags);
            if u.invalid {
                return self.invalid(ns, Invalid::BadTcpFlags);
            }
            match e
                .status
                .compare_exchange(st, u.status, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if let Some(k) = u.timeout {
                        e.expires
                            .store(now.wrapping_add(self.timeout_jiffies(k)), Ordering::Relaxed);
                    }
                    return Verdict::Accept;
                }
                Err(cur) => st = cur,
            }
        }
    }

    /// LOCAL_IN / POST_ROUTING: insert a new connection.
    fn confirm(&self, ns: &NetState, t: &Tuple, flags: u8) -> Verdict {
        let g = rcu::read_lock();
        let now = sys::jiffies();
        let found = self.lookup(&g, ns, t);
        if let Some(f) = found {
            if !Self::expired(f.entry, now) {
                return Verdict::Accept;
            }
            self.table.remove(f.entry);
        }
        if !tuple::can_create(t, flags) {
            return Verdict::Accept;
        }
        let st = proto::initial_status(t, flags);
        let expires =
            now.wrapping_add(self.timeout_jiffies(proto::timeout_kind(t.l4, t.is_icmp(), st)));
        let max = self.settings.max();
        let mut new = self.table.alloc(&ns.shared, *t, st, expires, max);
        if let Err(AllocError::Full) = new {
            if self.early_drop(&g, ns, t, now) {
                ns.inc(Stat::EarlyDrop);
                new = self.table.alloc(&ns.shared, *t, st, expires, max);
            }
        }
        let new = match new {
            Ok(n) => n,
            Err(AllocError::Full) => {
                ns.inc(Stat::Drop);
                if sys::net_ratelimit() {
                    pr_warn!("table full, dropping packet\n");
                }
                return Verdict::Drop;
            }
            Err(AllocError::NoMemory) => {
                ns.inc(Stat::AllocFailed);
                if sys::net_ratelimit() {
                    pr_warn!("entry allocation failed, dropping packet\n");
                }
                return Verdict::Drop;
            }
        };
        ns.inc(Stat::New);
        match self.table.insert(new) {
            Ok(()) => {
                ns.inc(Stat::Insert);
                Verdict::Accept
            }
            // Another CPU inserted it first: that entry tracks the packet.
            Err(InsertError::Clash) => {
                ns.inc(Stat::InsertFailed);
                Verdict::Accept
            }
            Err(InsertError::ChainTooLong) => {
                ns.inc(Stat::ChainTooLong);
                ns.inc(Stat::InsertFailed);
                Verdict::Drop
            }
        }
    }

    /// Evicts one un-ASSURED (or expired) entry from the buckets around
    /// `t`'s: one of this namespace if there is one (as nf_conntrack's
    /// `early_drop`), else of any namespace. The limit is global, so without
    /// the fallback a namespace that filled the table with unanswered flows
    /// would lock every other namespace (loopback included) out of it.
    fn early_drop(&self, g: &rcu::Guard, ns: &NetState, t: &Tuple, now: usize) -> bool {
        let start = self.table.bucket_of(self.table.hash(&ns.shared, t));
        let mut own: Option<&Entry> = None;
        let mut other: Option<&Entry> = None;
        self.table.scan(g, start, EARLY_DROP_BUCKETS, |e| {
            if own.is_some()
                || e.is_dead()
                || (e.status.load(Ordering::Relaxed) & status::ASSURED != 0
                    && !Self::expired(e, now))
            {
                return;
            }
            if e.belongs_to(&ns.shared) {
                own = Some(e);
            } else if other.is_none() {
                other = Some(e);
            }
        });
        own.or(other).is_some_and(|e| self.table.remove(e))
    }

    /// One garbage-collection run; returns the delay to the next one.
    pub(crate) fn gc(&self) -> usize {
        let hz = sys::hz() as usize;
        let start = sys::jiffies();
        let budget = (hz / 100).max(1);
        let n = self.table.nbuckets();
        let mut next = self.gc_next.load(Ordering::Relaxed);
        let mut scanned = 0u32;
        let mut visited = 0u32;
        let mut expired = 0u32;
        let done = loop {
            let g = rcu::read_lock();
            let now = sys::jiffies();
            next = self.table.scan(&g, next, 64, |e| {
                visited += 1;
                if Self::expired(e, now) && self.table.remove(e) {
                    expired += 1;
                }
            });
            drop(g);
            scanned += 64;
            if next == 0 {
                break true;
            }
            if scanned >= n {
                break false;
            }
            if sys::time_after_eq(sys::jiffies(), start.wrapping_add(budget)) {
                break false;
            }
            sys::cond_resched();
        };
        self.gc_next.store(next, Ordering::Relaxed);
        self.check_lowmem();
        if !done {
            1
        } else if expired > visited / 4 {
            // Many expired entries: come back soon (nf_conntrack's gc_worker
            // adapts its interval the same way).
            (hz / 10).max(1)
        } else {
            hz
        }
    }

    /// Warns when free lowmem is under the floor while the table grows.
    fn check_lowmem(&self) {
        let count = self.table.count();
        let last = self.gc_last_count.swap(count, Ordering::Relaxed);
        let free_kib = sys::pages_to_kib(sys::free_lowmem_pages());
        let floor_kib = self.settings.lowmem_floor_kib();
        if count > last && free_kib < floor_kib && sys::net_ratelimit() {
            pr_warn!(
                "lowmem low: {} KiB free (floor {} KiB) with {} entries ({} KiB) and growing\n",
                free_kib,
                floor_kib,
                count,
                self.memory_bytes() >> 10
            );
        }
    }

    /// Bytes of slab used by entries.
    pub(crate) fn memory_bytes(&self) -> usize {
        (self.table.count() as usize).saturating_mul(self.table.object_size() as usize)
    }

    /// `/proc/net/rconntrack`.
    pub(crate) fn show_table(&self, ns: &NetState, w: &mut SeqWriter) {
        let hz = sys::hz() as usize;
        let mut next = 0;
        loop {
            let g = rcu::read_lock();
            let now = sys::jiffies();
            next = self.table.scan(&g, next, 128, |e| {
                if e.belongs_to(&ns.shared) && !e.is_dead() && !Self::expired(e, now) {
                    let left = e.expires.load(Ordering::Relaxed).wrapping_sub(now) / hz;
                    let _ = write_entry(w, e, left);
                }
            });
            drop(g);
            if next == 0 {
                break;
            }
        }
    }

    /// `/proc/net/stat/rconntrack`.
    pub(crate) fn show_stat(&self, ns: &NetState, w: &mut SeqWriter) {
        let _ = w.write_str("entries");
        for name in STAT_NAMES {
            let _ = write!(w, " {}", name);
        }
        let _ = w.write_str("\n");
        let entries = ns.shared.count.load(Ordering::Relaxed);
        for cpu in possible_cpus() {
            let _ = write!(w, "{:08x}", entries);
            for i in 0..NSTATS {
                let _ = write!(w, " {:08x}", ns.stats.read(cpu, i));
            }
            let _ = w.write_str("\n");
        }
    }
}

pub(crate) use crate::kernel_ext::table::AllocError;

struct Addr<'a>(&'a Tuple, bool);

impl core::fmt::Display for Addr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let a = if self.1 { &self.0.src } else { &self.0.dst };
        if self.0.l3 == NFPROTO_IPV4 {
            write!(f, "{}.{}.{}.{}", a[0], a[1], a[2], a[3])
        } else {
            // %pI6: eight groups of four hex digits.
            for i in 0..8 {
                if i > 0 {
                    f.write_str(":")?;
                }
                write!(f, "{:02x}{:02x}", a[2 * i], a[2 * i + 1])?;
            }
            Ok(())
        }
    }
}

fn write_tuple(w: &mut SeqWriter, t: &Tuple) -> core::fmt::Result {
    write!(w, "src={} dst={} ", Addr(t, true), Addr(t, false))?;
    if t.is_icmp() {
        write!(
            w,
            "type={} code={} id={} ",
            t.dst_id >> 8,
            t.dst_id & 0xff,
            t.src_id
        )
    } else if t.has_ports() {
        write!(w, "sport={} dport={} ", t.src_id, t.dst_id)
    } else {
        Ok(())
    }
}

/// One line in `/proc/net/nf_conntrack` format.
fn write_entry(w: &mut SeqWriter, e: &Entry, left_secs: usize) -> core::fmt::Result {
    let t = &e.tuple;
    let st = e.status.load(Ordering::Relaxed);
    let l3 = if t.l3 == NFPROTO_IPV4 { "ipv4" } else { "ipv6" };
    let l4 = match t.l4 {
        tuple::IPPROTO_TCP => "tcp",
        tuple::IPPROTO_UDP => "udp",
        tuple::IPPROTO_UDPLITE => "udplite",
        tuple::IPPROTO_SCTP => "sctp",
        tuple::IPPROTO_ICMP if t.l3 == NFPROTO_IPV4 => "icmp",
        tuple::IPPROTO_ICMPV6 if t.l3 == NFPROTO_IPV6 => "icmpv6",
        _ => "unknown",
    };
    write!(w, "{:<8} {} {:<8} {} {} ", l3, t.l3, l4, t.l4, left_secs)?;
    if t.l4 == tuple::IPPROTO_TCP {
        let s = TcpState::from_bits(st & status::TCP_STATE_MASK);
        write!(w, "{} ", s.name())?;
    }
    write_tuple(w, t)?;
    if st & status::SEEN_REPLY == 0 {
        w.write_str("[UNREPLIED] ")?;
    }
    write_tuple(w, &e.tuple_of(Dir::Reply))?;
    if st & status::ASSURED != 0 {
        w.write_str("[ASSURED] ")?;
    }
    w.write_str("mark=0 use=1\n")
}
