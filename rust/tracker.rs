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
//!
//! # Carrying a packet from track to confirm
//!
//! nf_conntrack attaches its entry to the packet (`skb->_nfct`) at the first
//! hook and finds it there at the second. rconntrack must run beside
//! nf_conntrack, so that field is not ours, and neither is `skb->cb` (the IP
//! layer's). Instead the track hook leaves a [`Note`] on its CPU
//! ([`PerCpuNote`]), tagged with the packet's address: the tuple it looked
//! up, and whether confirm has a connection to create. The confirm hook of
//! the same packet takes it back. Two things follow:
//!
//! * One lookup per packet: a packet of a known connection is not parsed
//!   nor looked up again at confirm.
//! * NAT on the path: DNAT runs after the track hook and SNAT before the
//!   confirm hook, so the tuple a packet enters with (the note's) and the
//!   one it leaves with (parsed at confirm) differ. The entry is keyed by
//!   both ([`Conn`]): its original direction is the tuple at track, its
//!   reply direction the inverse of the tuple at confirm, which is what the
//!   other end answers to and what the reply looks like at track, before
//!   nf_nat undoes the translation.
//!
//! Failure modes, each falling back to what the packet alone says (parse at
//! confirm, look up, insert its tuple as seen there):
//!
//! * the packet changed CPU between the hooks (a preempted sender, a packet
//!   queued to user space and reinjected elsewhere), or another packet's
//!   track ran on this CPU in between (a softirq interrupting a sender):
//!   no note with this packet's tag, fallback. Under NAT the fallback
//!   inserts the translated tuple, as rconntrack did before notes existed.
//! * a note left by a packet dropped between the hooks, whose memory a
//!   later packet reuses, and that later packet reaches a confirm hook on
//!   this CPU without passing a track hook first (only reinjected packets
//!   do): the note also carries the namespace and the packet length, and
//!   must match both. Past that, the entry made is the dropped packet's
//!   connection, a harmless miss-attribution the next packet corrects.
//!
//! IPv6 NAT: an IPv6 [`Conn`] has no room for the second tuple, so a
//! rewritten IPv6 connection keeps it as the entry's tail
//! ([`ConnTail`]), in a larger object of the table's second slab cache
//! (`rconntrack_nat6`); every other entry keeps its size.

use crate::kernel_ext::hash::HashKey;
use crate::kernel_ext::netns::{Hook, HookSpec, Net, NetfilterNs, ProcSpec, Verdict};
use crate::kernel_ext::percpu::{possible_cpus, PerCpuCounters, PerCpuNote};
use crate::kernel_ext::seqfile::SeqWriter;
use crate::kernel_ext::skb::{CsumSkb, Skb};
use crate::kernel_ext::sys;
use crate::kernel_ext::sysctl::SysctlEntry;
use crate::kernel_ext::table::{self, Found, InsertError, Owner, Table, TableKey};
use crate::kernel_ext::work::PeriodicWork;
use crate::knobs::{self, Settings};
use crate::limits;
use crate::proto::{self, status, Action, Dir, TcpState, TcpWin, TimeoutKind};
use crate::sctp::{self, Chunks, SctpCt, SctpState, SctpVerdict, SCTP_WORDS};
use crate::tuple::{
    self, Conn, ConnTail, Invalid, PacketReader, Parsed, Seg, Tuple, IPPROTO_SCTP, IPPROTO_TCP,
    NFPROTO_IPV4, NFPROTO_IPV6,
};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::{rcu, Arc};

/// A table entry of the tracker.
pub(crate) type Entry = table::Entry<Conn>;

/// The packet's tuple, or why it has none, by its family `pf`.
#[inline(always)]
fn parse(r: &impl PacketReader, pf: u8) -> Parsed {
    match pf {
        NFPROTO_IPV4 => tuple::parse_ipv4(r),
        NFPROTO_IPV6 => tuple::parse_ipv6(r),
        _ => Parsed::Ignore,
    }
}

impl TableKey for Conn {
    type Dir = Tuple;
    /// A rewritten IPv6 connection's outgoing tuple (see [`Conn`]).
    type Tail = ConnTail;

    fn dir(&self, tail: Option<&ConnTail>, reply: bool) -> Tuple {
        Conn::dir(self, tail, reply)
    }

    #[inline]
    fn matches(&self, tail: Option<&ConnTail>, reply: bool, k: &Tuple) -> bool {
        self.is_dir(tail, reply, k)
    }

    #[inline]
    fn hash(t: &Tuple, key: &HashKey, salt: u32) -> u32 {
        // IPv4: the fixed-size hash, half the cost of the generic one,
        // inlined into the lookup (the out-of-line wrapper that built the
        // 10-word array cost 68 instructions a packet).
        match t.hash_words4() {
            Some(w) => key.hash4_salted(w, salt),
            None => hash_words(t, key, salt),
        }
    }

    /// The TCP window ([`TcpWin`], packed), zero for other protocols;
    /// read and written under [`Table::lock_entry`] only.
    type Ext = [AtomicU32; proto::TCP_WIN_WORDS];
}

/// The generic hash of [`Tuple::hash_words`] with `salt` (IPv6), out of
/// line.
#[inline(never)]
fn hash_words(t: &Tuple, key: &HashKey, salt: u32) -> u32 {
    let (w, n) = t.hash_words();
    let mut buf = [0u32; 11];
    for (d, s) in buf.iter_mut().zip(&w[..n.min(w.len())]) {
        *d = *s;
    }
    let n = n.min(w.len());
    buf[n] = salt;
    key.hash(&buf[..=n])
}

/// The entry's TCP window. Relaxed loads: the caller holds the entry lock,
/// which orders them after the last holder's stores.
fn load_win(e: &Entry) -> TcpWin {
    let mut w = [0u32; proto::TCP_WIN_WORDS];
    for (d, a) in w.iter_mut().zip(e.ext.iter()) {
        *d = a.load(Ordering::Relaxed);
    }
    TcpWin::unpack(&w)
}

/// Stores the entry's TCP window (entry lock held, or entry not
/// published yet).
fn store_win(e: &Entry, w: &TcpWin) {
    for (a, v) in e.ext.iter().zip(w.pack()) {
        a.store(v, Ordering::Relaxed);
    }
}

/// An SCTP entry's association data, in the words a TCP entry keeps its
/// window in (entry lock held, as [`load_win`]); its state is the status
/// word's state number.
fn load_sctp(e: &Entry, st: u32) -> SctpCt {
    let mut w = [0u32; SCTP_WORDS];
    for (d, a) in w.iter_mut().zip(e.ext.iter()) {
        *d = a.load(Ordering::Relaxed);
    }
    SctpCt::unpack(&w, (st & status::TCP_STATE_MASK) as u8)
}

/// Stores an SCTP entry's association data (entry lock held, or entry
/// not published yet).
fn store_sctp(e: &Entry, ct: &SctpCt) {
    for (a, v) in e.ext.iter().zip(ct.pack()) {
        a.store(v, Ordering::Relaxed);
    }
}

/// The first packet of an SCTP association, as it would create it.
fn sctp_first(skb: &Skb<'_>, seg: &Seg) -> (SctpVerdict, SctpCt) {
    sctp::sctp_packet(
        None,
        Dir::Original,
        seg.vtag,
        seg.sctp_map,
        Chunks::new(skb, usize::from(seg.l4_off)),
    )
}

/// What the track hook learnt about a packet, for the confirm hook of the
/// same packet (see the module docs). Small, as every packet writes and
/// reads one: the tuple, which only a connection to create needs, is a
/// note of its own ([`Tracker::note_tuples`]), written only then.
#[derive(Clone, Copy)]
pub(crate) struct Note {
    /// The namespace (its [`Owner`] id) and the length of the packet, which
    /// NAT does not change: a note matches only the packet it was left for.
    ns: u32,
    len: u32,
    /// No live entry had the tuple at track: confirm creates one, from
    /// the tuple note of the same packet.
    create: bool,
    /// TCP flags of the packet.
    flags: u8,
}

/// `now` in [`proto::Tick`]s (see [`proto::tick_of`]: a shift of the low
/// 32 bits of jiffies, continuous across their wrap).
fn tick(now: usize) -> proto::Tick {
    proto::tick_of(now as u32, proto::tick_shift(sys::hz()))
}

/// Ticks covering 2 s, for the UDP stream stamp.
fn ticks_2s() -> proto::Tick {
    let hz = sys::hz();
    proto::ticks_2s(hz, proto::tick_shift(hz))
}

fn dir_of(reply: bool) -> Dir {
    if reply {
        Dir::Reply
    } else {
        Dir::Original
    }
}

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
    /// The tracker.
    pub(crate) tracker: Arc<Tracker>,
    /// Shared with every entry of the namespace.
    pub(crate) shared: Arc<Owner>,
    stats: PerCpuCounters<NSTATS>,
    is_init: bool,
}

/// Counted in [`Tracker::nets`] from `init` until the state goes (also when
/// a namespace's set-up fails after `init`).
impl Drop for NetState {
    fn drop(&mut self) {
        self.tracker.nets.fetch_sub(1, Ordering::Relaxed);
    }
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
    pub(crate) table: Table<Conn>,
    /// Global settings (sysctls).
    pub(crate) settings: Settings,
    gc_next: AtomicU32,
    gc_last_count: AtomicU32,
    /// The sweep in progress: live entries seen, and the sum of their
    /// remaining seconds capped at [`limits::GC_MAX_PAUSE_SECS`] (a u32 holds
    /// 4M buckets x 2 directions x 60).
    gc_live: AtomicU32,
    gc_left_secs: AtomicU32,
    /// Track hook to confirm hook, per CPU.
    notes: PerCpuNote<Note>,
    /// The tuple at track (before any NAT) of a packet whose note says
    /// `create`, with the same tag.
    note_tuples: PerCpuNote<Tuple>,
    /// Live namespaces (for the fair share of the lowmem ceiling).
    nets: AtomicU32,
}

/// `/proc/net/rconntrack` and `/proc/net/stat/rconntrack`.
const FILE_TABLE: usize = 0;
const FILE_STAT: usize = 1;

impl NetfilterNs for Tracker {
    type State = NetState;
    const HOOKS: &'static [HookSpec] = &HOOKS;
    const SYSCTL_PATH: &'static CStr = c"net/rconntrack";
    const SYSCTLS: &'static [SysctlEntry] = &knobs::SYSCTLS;
    // As nf_conntrack: fragments are reassembled before tracking.
    const DEFRAG: bool = true;
    const FILES: &'static [ProcSpec] = &[
        // As nf_conntrack: the table is readable by root only (a full
        // dump is costly), the counters by anyone.
        ProcSpec {
            name: c"rconntrack",
            stat: false,
            mode: 0o440,
        },
        ProcSpec {
            name: c"rconntrack",
            stat: true,
            mode: 0o444,
        },
    ];

    fn init(this: &Arc<Self>, net: &Net<'_>) -> Result<NetState> {
        let st = NetState {
            tracker: this.clone(),
            shared: Arc::new(
                Owner {
                    id: net.inum(),
                    count: AtomicU32::new(0),
                },
                GFP_KERNEL,
            )?,
            stats: PerCpuCounters::new()?,
            is_init: net.is_init(),
        };
        this.nets.fetch_add(1, Ordering::Relaxed);
        Ok(st)
    }

    fn hook(ns: &NetState, skb: &Skb<'_>, hook: Hook, pf: u8, loopback_in: bool) -> Verdict {
        if loopback_in {
            // Loopback: the packet was tracked on its way out, at
            // LOCAL_OUT and POST_ROUTING of this namespace; applying it
            // again at PRE_ROUTING would count each segment twice (one
            // FIN: ESTABLISHED -> FIN_WAIT -> LAST_ACK). nf_conntrack
            // skips it because the skb already carries its conntrack.
            return Verdict::Accept;
        }
        ns.tracker.hook(ns, skb, hook, pf)
    }

    fn exit(ns: &NetState) {
        ns.tracker.flush(&ns.shared);
    }

    fn sysctl_read(ns: &NetState, idx: usize) -> i32 {
        knobs::read(&ns.tracker, ns, idx)
    }

    fn sysctl_write(ns: &NetState, idx: usize, v: i32) -> Result {
        knobs::write(&ns.tracker, ns, idx, v)
    }

    fn records(ns: &NetState, file: usize) -> u32 {
        match file {
            FILE_TABLE => ns.tracker.table.nbuckets(),
            // The header, then one line per possible CPU.
            _ => 1 + possible_cpus().count() as u32,
        }
    }

    fn show(ns: &NetState, file: usize, rec: u32, w: &mut SeqWriter) {
        match file {
            FILE_TABLE => ns.tracker.show_bucket(ns, rec, w),
            FILE_STAT => show_stat(ns, rec, w),
            _ => {}
        }
    }
}

impl PeriodicWork for Tracker {
    fn run(&self) -> usize {
        self.gc()
    }
}

impl Tracker {
    /// Creates the table and settings.
    pub(crate) fn new(settings: Settings, nbuckets: u32) -> Result<Self> {
        // nf_conntrack's CONNTRACK_LOCKS; never more than two are held.
        let table = Table::new([c"rconntrack", c"rconntrack_nat6"], nbuckets, 1024, None)?;
        Ok(Tracker {
            table,
            settings,
            gc_next: AtomicU32::new(0),
            gc_last_count: AtomicU32::new(0),
            gc_live: AtomicU32::new(0),
            gc_left_secs: AtomicU32::new(0),
            notes: PerCpuNote::new()?,
            note_tuples: PerCpuNote::new()?,
            nets: AtomicU32::new(0),
        })
    }

    /// Removes every entry of a namespace; its hooks are gone, so nothing
    /// adds to it. A resize running meanwhile can make a pass miss entries
    /// (they move behind the cursor), so passes repeat until the
    /// namespace's count is zero.
    fn flush(&self, ns: &Owner) {
        while ns.count.load(Ordering::Relaxed) != 0 {
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
            sys::cond_resched();
        }
    }

    /// A packet at a hook.
    pub(crate) fn hook(&self, ns: &NetState, skb: &Skb<'_>, hook: Hook, pf: u8) -> Verdict {
        let delay = self.settings.debug_hook_delay_us();
        if delay != 0 {
            // Testing only (module parameter): a hook still running when
            // its namespace or the module goes must not find its state
            // freed (see `unload_race.sh`).
            sys::udelay(delay);
        }
        let parse_skb = || parse(skb, pf);
        let confirm = matches!(hook, Hook::LocalIn | Hook::PostRouting);
        if !confirm {
            // Checksums are verified where packets enter, as nf_conntrack
            // verifies them (not on the way out, where the stack made
            // them, and not at confirm: the packet was parsed at track).
            let parsed = if hook == Hook::PreRouting && self.settings.checksum() {
                parse(&CsumSkb(skb), pf)
            } else {
                parse_skb()
            };
            return match parsed {
                Parsed::Ignore => Verdict::Accept,
                Parsed::Invalid(why) => {
                    let v = self.invalid(ns, why);
                    // Nothing to create: the confirm hook need not parse
                    // the packet again (its parse there would not check
                    // the checksum, and take a bad one for good).
                    if v == Verdict::Accept {
                        self.leave_note(ns, skb, false, 0);
                    }
                    v
                }
                Parsed::Track(t, seg) => self.track(ns, skb, &t, &seg),
                Parsed::Related(t, dst) => self.related(ns, &t, &dst),
            };
        }
        let len = skb.len() as u32;
        if let Some(n) = self.notes.take(skb.id()) {
            if n.ns == ns.shared.id && n.len == len {
                if !n.create {
                    // A known connection, already updated at track.
                    return Verdict::Accept;
                }
                // Written with the note; missing only if another packet's
                // track ran on this CPU in between (then: the fallback).
                if let Some(orig) = self.note_tuples.take(skb.id()) {
                    let (out, seg) = match parse_skb() {
                        Parsed::Track(o, seg) => (o, seg),
                        // Unparsable now, though it was at track: create
                        // the connection as it entered (a TCP one picked
                        // up, with the flags only, as its segment is gone).
                        _ => (orig, Seg::flags(n.flags)),
                    };
                    return self.create(ns, skb, &orig, &out, &seg);
                }
            }
        }
        match parse_skb() {
            // Counted once, where the packet enters.
            Parsed::Ignore | Parsed::Invalid(_) | Parsed::Related(..) => Verdict::Accept,
            Parsed::Track(t, seg) => self.confirm(ns, skb, &t, &seg),
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

    /// Whether a packet with tuple `t` and segment `seg` may open a
    /// connection (TCP: a SYN, or an ACK under `tcp_loose`).
    fn can_create(&self, skb: &Skb<'_>, t: &Tuple, seg: &Seg) -> bool {
        match t.l4 {
            IPPROTO_TCP => proto::tcp_can_create(seg, &self.settings.tcp_cfg()),
            IPPROTO_SCTP => matches!(sctp_first(skb, seg).0, SctpVerdict::Accept(..)),
            _ => tuple::can_create(t, seg.flags),
        }
    }

    fn expired(e: &Entry, now: usize) -> bool {
        sys::time_after_eq(now, e.expires.load(Ordering::Relaxed))
    }

    fn timeout_jiffies(&self, k: TimeoutKind) -> usize {
        sys::secs_to_jiffies(self.settings.timeout(k))
    }

    /// Looks `t` up in `ns`, counting search restarts.
    fn lookup<'a>(
        &'a self,
        g: &'a rcu::Guard,
        ns: &NetState,
        t: &Tuple,
    ) -> Option<Found<'a, Conn>> {
        let mut restarts = 0;
        let found = self.table.lookup(g, &ns.shared, t, &mut restarts);
        for _ in 0..restarts {
            ns.inc(Stat::SearchRestart);
        }
        found
    }

    /// PRE_ROUTING / LOCAL_OUT: update a known connection, and leave the
    /// confirm hook a note on what to do with this packet.
    fn track(&self, ns: &NetState, skb: &Skb<'_>, t: &Tuple, seg: &Seg) -> Verdict {
        let g = rcu::read_lock();
        let now = sys::jiffies();
        let found = self.lookup(&g, ns, t);
        let (create, verdict) = match found {
            Some(f) if !Self::expired(f.entry, now) => {
                ns.inc(Stat::Found);
                self.update(ns, skb, f.entry, dir_of(f.reply), seg, now)
            }
            found => {
                if let Some(f) = found {
                    // Expired: gone for lookups; the confirm step makes a
                    // fresh entry.
                    self.table
                        .remove_if(f.entry, |e| Self::expired(e, sys::jiffies()));
                }
                if self.can_create(skb, t, seg) {
                    (true, Verdict::Accept)
                } else {
                    (false, self.invalid(ns, Invalid::CannotCreate))
                }
            }
        };
        if verdict == Verdict::Accept {
            if create {
                self.note_tuples.put(skb.id(), *t);
            }
            self.leave_note(ns, skb, create, seg.flags);
        }
        verdict
    }

    /// Leaves the confirm hook of the same packet a note: whether to
    /// create its connection, and its TCP flags.
    fn leave_note(&self, ns: &NetState, skb: &Skb<'_>, create: bool, flags: u8) {
        self.notes.put(
            skb.id(),
            Note {
                ns: ns.shared.id,
                len: skb.len() as u32,
                create,
                flags,
            },
        );
    }

    /// PRE_ROUTING / LOCAL_OUT: an ICMP error is related to a connection
    /// (nf_conntrack's RELATED) when one direction of a live entry is `t`
    /// (the quoted packet, inverted) and goes to the error's destination
    /// `dst`; otherwise it is invalid. It changes no entry, and the confirm
    /// hook, with no note for it, ignores it.
    ///
    /// An error this host sends about a packet it is forwarding or
    /// receiving (TTL exceeded, fragmentation needed, port unreachable)
    /// can quote a packet whose connection is not confirmed yet: that
    /// packet was tracked on this CPU and dropped before its confirm hook,
    /// and `icmp_send()` runs in between. Its note is still here (as
    /// nf_conntrack attaches the unconfirmed conntrack to the error,
    /// `nf_ct_attach`), and makes the error related too.
    fn related(&self, ns: &NetState, t: &Tuple, dst: &[u8; 16]) -> Verdict {
        let g = rcu::read_lock();
        let ok = self.lookup(&g, ns, t).is_some_and(|f| {
            !Self::expired(f.entry, sys::jiffies()) && f.entry.key_of(f.reply).dst == *dst
        }) || self.notes.peek().is_some_and(|(tag, n)| {
            n.ns == ns.shared.id
                && n.create
                && self
                    .note_tuples
                    .peek()
                    .is_some_and(|(qtag, q)| qtag == tag && q == t.invert() && q.src == *dst)
        });
        drop(g);
        if ok {
            Verdict::Accept
        } else {
            self.invalid(ns, Invalid::Unrelated)
        }
    }

    /// Applies a packet to an entry's state, then sets the expiry the new
    /// state calls for. TCP: [`Self::update_tcp`]. Other protocols:
    /// lock-free, a CAS on the status.
    ///
    /// Race: the status CAS and the expiry store are two steps, so CPU A
    /// and CPU B can store their expiries in the opposite order of their
    /// CASes. Each writer therefore re-reads the status after its store
    /// and, if another CPU changed it meanwhile, stores the expiry of the
    /// status now in place; the last store is then always followed by a
    /// check against the final status.
    ///
    /// Returns whether the confirm hook is to create a connection for this
    /// packet (it reopens a closed one), and the verdict.
    fn update(
        &self,
        ns: &NetState,
        skb: &Skb<'_>,
        e: &Entry,
        dir: Dir,
        seg: &Seg,
        now: usize,
    ) -> (bool, Verdict) {
        match e.key.l4() {
            IPPROTO_TCP => return self.update_tcp(ns, e, dir, seg, now),
            IPPROTO_SCTP => return (false, self.update_sctp(ns, skb, e, dir, seg, now)),
            _ => {}
        }
        let tick = tick(now);
        let (l4, icmp) = (e.key.l4(), e.key.is_icmp());
        let mut st = e.status.load(Ordering::Relaxed);
        let u = loop {
            let u = proto::update_proto(l4, icmp, st, dir, tick);
            if u.status == st {
                // Nothing to write (most packets of a flow): no atomic
                // read-modify-write, no dirtied line; a status changed
                // meanwhile is caught by the check after the expiry store.
                break u;
            }
            match e
                .status
                .compare_exchange(st, u.status, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break u,
                Err(cur) => st = cur,
            }
        };
        let Some(k) = u.timeout else {
            return (false, Verdict::Accept);
        };
        let expires = now.wrapping_add(self.timeout_jiffies(k));
        // Once per jiffy, not once per packet (nf_ct_refresh() does the
        // same): the other packets of the jiffy find the value in place.
        if e.expires.load(Ordering::Relaxed) != expires {
            e.expires.store(expires, Ordering::Release);
        }
        let mut mine = u.status;
        // Bounded: each round means another CPU changed the status again.
        for _ in 0..4 {
            let cur = e.status.load(Ordering::Acquire);
            if cur == mine {
                break;
            }
            let k = proto::timeout_kind(e.key.l4(), e.key.is_icmp(), cur);
            e.expires
                .store(now.wrapping_add(self.timeout_jiffies(k)), Ordering::Release);
            mine = cur;
        }
        (false, Verdict::Accept)
    }

    /// The TCP part of [`Self::update`]: nf_conntrack_tcp_packet() under
    /// the entry's lock, which serialises the window, the status and the
    /// expiry of this entry (what nf_conntrack's `ct->lock` protects).
    fn update_tcp(
        &self,
        ns: &NetState,
        e: &Entry,
        dir: Dir,
        seg: &Seg,
        now: usize,
    ) -> (bool, Verdict) {
        let cfg = self.settings.tcp_cfg();
        let g = self.table.lock_entry(e);
        let st = e.status.load(Ordering::Relaxed);
        let mut w = load_win(e);
        let u = proto::tcp_packet(st, &mut w, dir, seg, &cfg, |k| self.settings.timeout(k));
        // Ignored and invalid segments move the window's notes too.
        store_win(e, &w);
        if u.action != Action::Keep {
            drop(g);
            // Kill: an unanswered connection reset (nf_conntrack's "only
            // reply is a RST"). Reopen: a SYN that starts a new connection
            // on a closed one's tuple; removed here, the confirm hook then
            // creates the new entry from this very packet, oriented by its
            // sender, as nf_conntrack's kill and NF_REPEAT do. remove()
            // refuses an entry another CPU removed first, so a racing pair
            // removes it once.
            self.table.remove(e);
            return (u.action == Action::Reopen, Verdict::Accept);
        }
        if u.invalid {
            if u.lower {
                // nf_tcp_handle_invalid(): an assured connection whose
                // closing segments fall out of window gets the
                // unacknowledged timeout if at least 120 s are left.
                let unack = self.timeout_jiffies(TimeoutKind::TcpUnacked);
                let left = e.expires.load(Ordering::Relaxed).wrapping_sub(now) as isize;
                if left >= sys::secs_to_jiffies(120) as isize && left > unack as isize {
                    e.expires.store(now.wrapping_add(unack), Ordering::Release);
                }
            }
            drop(g);
            let why = if u.window {
                Invalid::OutOfWindow
            } else {
                Invalid::TcpState
            };
            return (false, self.invalid(ns, why));
        }
        e.status.store(u.status, Ordering::Release);
        if let Some(k) = u.timeout {
            e.expires
                .store(now.wrapping_add(self.timeout_jiffies(k)), Ordering::Release);
        }
        (false, Verdict::Accept)
    }

    /// SCTP: [`sctp::sctp_packet`] over the packet's chunks, under the
    /// entry's lock (nf_conntrack's `ct->lock`).
    fn update_sctp(
        &self,
        ns: &NetState,
        skb: &Skb<'_>,
        e: &Entry,
        dir: Dir,
        seg: &Seg,
        now: usize,
    ) -> Verdict {
        let chunks = Chunks::new(skb, usize::from(seg.l4_off));
        let g = self.table.lock_entry(e);
        let st = e.status.load(Ordering::Relaxed);
        let ct = load_sctp(e, st);
        let (v, ct) = sctp::sctp_packet(Some(ct), dir, seg.vtag, seg.sctp_map, chunks);
        // What the walk changed before an invalid chunk stays, as there.
        store_sctp(e, &ct);
        let mut new = (st & !status::TCP_STATE_MASK) | u32::from(ct.state);
        if dir == Dir::Reply && v != SctpVerdict::Invalid {
            new |= status::SEEN_REPLY;
        }
        if let SctpVerdict::Accept(_, true) = v {
            new |= status::ASSURED;
        }
        e.status.store(new, Ordering::Release);
        match v {
            SctpVerdict::Invalid => {
                drop(g);
                self.invalid(ns, Invalid::SctpChunks)
            }
            SctpVerdict::Ignore => Verdict::Accept,
            SctpVerdict::Accept(s, _) => {
                e.expires.store(
                    now.wrapping_add(self.timeout_jiffies(TimeoutKind::Sctp(s))),
                    Ordering::Release,
                );
                Verdict::Accept
            }
        }
    }

    /// LOCAL_IN / POST_ROUTING without a note from the track hook: insert
    /// the packet's connection as it is now, unless it is known.
    fn confirm(&self, ns: &NetState, skb: &Skb<'_>, t: &Tuple, seg: &Seg) -> Verdict {
        let g = rcu::read_lock();
        let now = sys::jiffies();
        let found = self.lookup(&g, ns, t);
        if let Some(f) = found {
            if !Self::expired(f.entry, now) {
                return Verdict::Accept;
            }
            self.table
                .remove_if(f.entry, |e| Self::expired(e, sys::jiffies()));
        }
        drop(g);
        self.create(ns, skb, t, t, seg)
    }

    /// LOCAL_IN / POST_ROUTING: insert the connection of a packet that
    /// entered as `orig` and leaves as `out` (see the module docs on NAT).
    /// A connection another CPU inserted meanwhile is a clash, counted.
    fn create(
        &self,
        ns: &NetState,
        skb: &Skb<'_>,
        orig: &Tuple,
        out: &Tuple,
        seg: &Seg,
    ) -> Verdict {
        // SCTP: sctp_first() below decides, on the same walk that gives
        // the association's first state (can_create() would walk the
        // chunks once more for the same answer).
        if orig.l4 != IPPROTO_SCTP && !self.can_create(skb, orig, seg) {
            return Verdict::Accept;
        }
        // A protocol rewritten on the way (no NAT does that): keep the
        // tuple it entered with.
        let (conn, tail) = Conn::new(orig, out).unwrap_or_else(|| (Conn::plain(orig), None));
        let t = orig;
        let g = rcu::read_lock();
        let now = sys::jiffies();
        let mut assoc = None;
        let (st, win, kind) = if t.l4 == IPPROTO_TCP {
            let cfg = self.settings.tcp_cfg();
            match proto::tcp_first(seg, &cfg, |k| self.settings.timeout(k)) {
                Some((st, w, k)) => (st, Some(w), k),
                None => return Verdict::Accept,
            }
        } else if t.l4 == IPPROTO_SCTP {
            // Checked by can_create(): the same packet, the same answer.
            let (SctpVerdict::Accept(s, assured), ct) = sctp_first(skb, seg) else {
                return Verdict::Accept;
            };
            assoc = Some(ct);
            let st = u32::from(ct.state) | if assured { status::ASSURED } else { 0 };
            (st, None, TimeoutKind::Sctp(s))
        } else {
            let st = proto::initial_status(t, tick(now), ticks_2s());
            (st, None, proto::timeout_kind(t.l4, t.is_icmp(), st))
        };
        let expires = now.wrapping_add(self.timeout_jiffies(kind));
        // `max` holds each namespace (nf_conntrack_max against the
        // namespace's count); the lowmem ceiling holds the table, all
        // namespaces together.
        let (mut max, mut ceiling) = (self.settings.max(), self.ceiling());
        let mut new = self
            .table
            .alloc(&ns.shared, conn, tail, st, expires, max, ceiling);
        // At most one eviction per limit hit; one out, one in, as
        // nf_conntrack's `__nf_conntrack_alloc`: the eviction pays for this
        // flow even when the limit was lowered below the count
        // (re-checking it would drop the packet and lose the evicted
        // entry for nothing).
        for _ in 0..2 {
            match new {
                Err(AllocError::OwnerFull) if self.early_drop(&g, ns, t, now, None) => {
                    max = u32::MAX
                }
                Err(AllocError::TableFull) if self.early_drop(&g, ns, t, now, Some(ceiling)) => {
                    ceiling = u32::MAX
                }
                _ => break,
            }
            ns.inc(Stat::EarlyDrop);
            new = self
                .table
                .alloc(&ns.shared, conn, tail, st, expires, max, ceiling);
        }
        let new = match new {
            Ok(n) => n,
            Err(AllocError::OwnerFull | AllocError::TableFull) => {
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
        // Not published yet: nobody else sees the entry.
        if let Some(w) = win {
            store_win(new.entry(), &w);
        }
        if let Some(ct) = assoc {
            store_sctp(new.entry(), &ct);
        }
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
            Err(InsertError::Foreign) => {
                ns.inc(Stat::InsertFailed);
                Verdict::Drop
            }
        }
    }

    /// Evicts one un-ASSURED (or expired) entry from the buckets around
    /// `t`'s.
    ///
    /// `ceiling` is `None` when the namespace is at its own `max`: the
    /// victim is one of its own entries, as nf_conntrack's `early_drop`.
    /// `Some(ceiling)` when the whole table is at the lowmem ceiling: the
    /// victim belongs to the namespace with the most entries among those
    /// seen, and never to one at or below its fair share (the ceiling over
    /// the number of namespaces), so a namespace flooding new flows pays
    /// for them and cannot push the others (the host's included) out.
    fn early_drop(
        &self,
        g: &rcu::Guard,
        ns: &NetState,
        t: &Tuple,
        now: usize,
        ceiling: Option<u32>,
    ) -> bool {
        let start = self.table.bucket_of(self.table.hash(&ns.shared, t));
        let fair = ceiling.map(|c| c / self.nets.load(Ordering::Relaxed).max(1));
        let mut victim: Option<(&Entry, u32)> = None;
        self.table.scan(g, start, EARLY_DROP_BUCKETS, |e| {
            if e.is_dead()
                || (e.status.load(Ordering::Relaxed) & status::ASSURED != 0
                    && !Self::expired(e, now))
            {
                return;
            }
            let n = e.owner_count();
            let eligible = match fair {
                None => e.belongs_to(&ns.shared),
                Some(fair) => n > fair,
            };
            if eligible && victim.is_none_or(|(_, m)| n > m) {
                victim = Some((e, n));
            }
        });
        // Re-checked under the lock: a reply may have made it ASSURED.
        victim.is_some_and(|(e, _)| {
            self.table.remove_if(e, |e| {
                e.status.load(Ordering::Relaxed) & status::ASSURED == 0
                    || Self::expired(e, sys::jiffies())
            })
        })
    }

    /// One garbage-collection run; returns the delay to the next one.
    ///
    /// A sweep of the whole table takes runs of up to 2 jiffies one jiffy
    /// apart. The pause after a sweep is [`limits::gc_pause_secs`] (as
    /// nf_conntrack's gc_worker: the average time the live entries had
    /// left, here also at most the shortest timeout in force), or 100 ms
    /// when many entries had expired. It was 1 s whatever the table held:
    /// `make profile FLOWS=1048528` (x86_64, sixth session) showed the
    /// collector at 123 guest instructions per packet of an established
    /// flow. Expired entries the collector has not reached yet are
    /// invisible to lookups and to the /proc listing.
    pub(crate) fn gc(&self) -> usize {
        let hz = sys::hz() as usize;
        let start = sys::jiffies();
        let budget = (hz / 100).max(1);
        let n = self.table.nbuckets();
        let mut next = self.gc_next.load(Ordering::Relaxed);
        if next == 0 {
            self.gc_live.store(0, Ordering::Relaxed);
            self.gc_left_secs.store(0, Ordering::Relaxed);
        }
        let mut scanned = 0u32;
        let mut visited = 0u32;
        let mut expired = 0u32;
        let mut live = 0u32;
        let mut left_secs = 0u32;
        let done = loop {
            let g = rcu::read_lock();
            let now = sys::jiffies();
            next = self.table.scan(&g, next, 64, |e| {
                visited += 1;
                // Decided again under the lock: a packet may have
                // refreshed the entry since `now` was read.
                if Self::expired(e, now) {
                    if self
                        .table
                        .remove_if(e, |e| Self::expired(e, sys::jiffies()))
                    {
                        expired += 1;
                    }
                } else {
                    let left =
                        e.expires.load(Ordering::Relaxed).wrapping_sub(now) / sys::hz() as usize;
                    live = live.saturating_add(1);
                    left_secs = left_secs
                        .saturating_add(left.min(limits::GC_MAX_PAUSE_SECS as usize) as u32);
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
        let live = self
            .gc_live
            .fetch_add(live, Ordering::Relaxed)
            .saturating_add(live);
        let left_secs = self
            .gc_left_secs
            .fetch_add(left_secs, Ordering::Relaxed)
            .saturating_add(left_secs);
        self.check_lowmem();
        if !done {
            1
        } else if expired > visited / 4 {
            // Many expired entries: come back soon (nf_conntrack's gc_worker
            // adapts its interval the same way).
            (hz / 10).max(1)
        } else {
            let secs = limits::gc_pause_secs(live, left_secs, self.settings.timeouts());
            secs as usize * hz
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

    /// Bytes of slab used by entries (those of rewritten IPv6 connections
    /// are larger).
    pub(crate) fn memory_bytes(&self) -> usize {
        let extra = self
            .table
            .wide_object_size()
            .saturating_sub(self.table.object_size());
        (self.table.count() as usize)
            .saturating_mul(self.table.object_size() as usize)
            .saturating_add((self.table.wide_count() as usize).saturating_mul(extra as usize))
    }

    /// Bucket `bucket` of `/proc/net/rconntrack`: the namespace's live
    /// entries whose original direction hashes there.
    fn show_bucket(&self, ns: &NetState, bucket: u32, w: &mut SeqWriter) {
        let g = rcu::read_lock();
        let now = sys::jiffies();
        self.table.scan_bucket(&g, bucket, |e| {
            if e.belongs_to(&ns.shared) && !e.is_dead() && !Self::expired(e, now) {
                // A division by the constant HZ: no division-by-zero path
                // (objtool 7.3 does not know that panic as noreturn).
                let left = e.expires.load(Ordering::Relaxed).wrapping_sub(now) / sys::hz() as usize;
                let _ = write_entry(w, e, left);
            }
        });
    }
}

/// Record `rec` of `/proc/net/stat/rconntrack`: the header, then the
/// counters of the `rec`-th possible CPU.
fn show_stat(ns: &NetState, rec: u32, w: &mut SeqWriter) {
    if rec == 0 {
        let _ = w.write_str("entries");
        for name in STAT_NAMES {
            let _ = write!(w, " {}", name);
        }
        let _ = w.write_str("\n");
        return;
    }
    let Some(cpu) = possible_cpus().nth(rec as usize - 1) else {
        return;
    };
    let entries = ns.shared.count.load(Ordering::Relaxed);
    let _ = write!(w, "{:08x}", entries);
    for i in 0..NSTATS {
        let _ = write!(w, " {:08x}", ns.stats.read(cpu, i));
    }
    let _ = w.write_str("\n");
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
    let t = &e.key_of(false);
    let st = e.status.load(Ordering::Relaxed);
    let l3 = if t.l3 == NFPROTO_IPV4 { "ipv4" } else { "ipv6" };
    let l4 = match t.l4 {
        tuple::IPPROTO_TCP => "tcp",
        tuple::IPPROTO_UDP => "udp",
        tuple::IPPROTO_SCTP => "sctp",
        tuple::IPPROTO_ICMP if t.l3 == NFPROTO_IPV4 => "icmp",
        tuple::IPPROTO_ICMPV6 if t.l3 == NFPROTO_IPV6 => "icmpv6",
        _ => "unknown",
    };
    write!(w, "{:<8} {} {:<8} {} {} ", l3, t.l3, l4, t.l4, left_secs)?;
    if t.l4 == tuple::IPPROTO_TCP {
        let s = TcpState::from_bits(st & status::TCP_STATE_MASK);
        write!(w, "{} ", s.name())?;
    } else if t.l4 == IPPROTO_SCTP {
        let s = SctpState::from_bits(st & status::TCP_STATE_MASK);
        write!(w, "{} ", s.name())?;
    }
    write_tuple(w, t)?;
    if st & status::SEEN_REPLY == 0 {
        w.write_str("[UNREPLIED] ")?;
    }
    write_tuple(w, &e.key_of(true))?;
    if st & status::ASSURED != 0 {
        w.write_str("[ASSURED] ")?;
    }
    w.write_str("mark=0 use=1\n")
}
