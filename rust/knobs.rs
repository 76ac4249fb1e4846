// SPDX-License-Identifier: GPL-2.0

//! Settings and the `net.rconntrack.*` sysctls.
//!
//! Names mirror nf_conntrack's (`nf_conntrack_max` -> `max`,
//! `nf_conntrack_tcp_timeout_established` -> `tcp_timeout_established`...).
//! Global values are writable from the initial namespace only; `count` is
//! per namespace. A bad write returns `-EINVAL` and changes nothing.

use crate::kernel_ext::sys;
use crate::kernel_ext::sysctl::SysctlEntry;
use crate::limits;
use crate::proto::{TcpCfg, TcpState, TimeoutKind, DEFAULT_TCP_CFG, DEFAULT_TIMEOUTS, TCP_STATES};
use crate::sctp::{SctpState, SCTP_STATES};
use crate::tracker::{NetState, Tracker};
use core::pin::Pin;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::Mutex;

const T_UDP: usize = TCP_STATES;
const T_UDP_STREAM: usize = TCP_STATES + 1;
const T_ICMP: usize = TCP_STATES + 2;
const T_GENERIC: usize = TCP_STATES + 3;
const T_TCP_UNACK: usize = TCP_STATES + 4;
const T_TCP_RETRANS: usize = TCP_STATES + 5;
/// SCTP's, by state (the first, NONE, unused).
const T_SCTP: usize = TCP_STATES + 6;
const NTIMEOUTS: usize = T_SCTP + SCTP_STATES;

/// Largest accepted `max_lowmem_percent`.
pub(crate) const MAX_LOWMEM_PERCENT: u32 = 90;

/// Global settings.
pub(crate) struct Settings {
    max: AtomicU32,
    max_lowmem_percent: AtomicU32,
    timeouts: [AtomicU32; NTIMEOUTS],
    log_invalid: AtomicU32,
    drop_invalid: AtomicU32,
    checksum: AtomicU32,
    tcp_loose: AtomicU32,
    tcp_be_liberal: AtomicU32,
    tcp_max_retrans: AtomicU32,
    tcp_ignore_invalid_rst: AtomicU32,
    /// Lowmem at load time, KiB.
    pub(crate) lowmem_kib: u32,
    /// Serialises writers of `max` and `max_lowmem_percent`: each checks
    /// its value against the other, and two unserialised writers could
    /// each pass their check and leave `max` above the ceiling.
    limit_lock: Pin<KBox<Mutex<()>>>,
    /// Testing only: microseconds every hook busy-waits (module parameter).
    debug_hook_delay_us: AtomicU32,
}

impl Settings {
    /// Defaults; `max` is set by the caller once the entry size is known.
    pub(crate) fn new(lowmem_kib: u32) -> Result<Self> {
        let d = DEFAULT_TIMEOUTS;
        let mut t = [d.tcp[0]; NTIMEOUTS];
        for (dst, src) in t.iter_mut().zip(d.tcp) {
            *dst = src;
        }
        t[T_UDP] = d.udp;
        t[T_UDP_STREAM] = d.udp_stream;
        t[T_ICMP] = d.icmp;
        t[T_GENERIC] = d.generic;
        t[T_TCP_UNACK] = d.tcp_unack;
        t[T_TCP_RETRANS] = d.tcp_retrans;
        for (dst, src) in t[T_SCTP..].iter_mut().zip(d.sctp) {
            *dst = src;
        }
        let c = DEFAULT_TCP_CFG;
        Ok(Settings {
            max: AtomicU32::new(1),
            max_lowmem_percent: AtomicU32::new(limits::DEFAULT_MAX_LOWMEM_PERCENT),
            timeouts: t.map(AtomicU32::new),
            log_invalid: AtomicU32::new(0),
            drop_invalid: AtomicU32::new(0),
            checksum: AtomicU32::new(1),
            tcp_loose: AtomicU32::new(u32::from(c.loose)),
            tcp_be_liberal: AtomicU32::new(u32::from(c.be_liberal)),
            tcp_max_retrans: AtomicU32::new(u32::from(c.max_retrans)),
            tcp_ignore_invalid_rst: AtomicU32::new(u32::from(c.ignore_invalid_rst)),
            lowmem_kib,
            limit_lock: KBox::pin_init(kernel::new_mutex!(()), GFP_KERNEL)?,
            debug_hook_delay_us: AtomicU32::new(0),
        })
    }

    /// The table limit.
    pub(crate) fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// Sets the limit (callers check it against the ceiling).
    pub(crate) fn set_max(&self, v: u32) {
        self.max.store(v, Ordering::Relaxed);
    }

    /// Testing only: the hook delay.
    pub(crate) fn debug_hook_delay_us(&self) -> u32 {
        self.debug_hook_delay_us.load(Ordering::Relaxed)
    }

    /// Sets the hook delay (module parameter).
    pub(crate) fn set_debug_hook_delay_us(&self, us: u32) {
        self.debug_hook_delay_us.store(us, Ordering::Relaxed);
    }

    /// Share of lowmem entries may use.
    pub(crate) fn max_lowmem_percent(&self) -> u32 {
        self.max_lowmem_percent.load(Ordering::Relaxed)
    }

    /// Whether to log invalid packets.
    pub(crate) fn log_invalid(&self) -> bool {
        self.log_invalid.load(Ordering::Relaxed) != 0
    }

    /// Whether to drop invalid packets.
    pub(crate) fn drop_invalid(&self) -> bool {
        self.drop_invalid.load(Ordering::Relaxed) != 0
    }

    /// Whether to verify transport checksums where packets enter
    /// (nf_conntrack's `nf_conntrack_checksum`).
    pub(crate) fn checksum(&self) -> bool {
        self.checksum.load(Ordering::Relaxed) != 0
    }

    /// The TCP settings besides timeouts.
    pub(crate) fn tcp_cfg(&self) -> TcpCfg {
        TcpCfg {
            loose: self.tcp_loose.load(Ordering::Relaxed) != 0,
            be_liberal: self.tcp_be_liberal.load(Ordering::Relaxed) != 0,
            max_retrans: self.tcp_max_retrans.load(Ordering::Relaxed) as u8,
            ignore_invalid_rst: self.tcp_ignore_invalid_rst.load(Ordering::Relaxed) != 0,
        }
    }

    /// Timeout in seconds.
    pub(crate) fn timeout(&self, k: TimeoutKind) -> u32 {
        let i = match k {
            // SYN_SENT2 shares SYN_SENT's timeout, as in nf_conntrack.
            TimeoutKind::Tcp(TcpState::SynSent2) => 1,
            TimeoutKind::Tcp(s) => s as usize,
            TimeoutKind::TcpUnacked => T_TCP_UNACK,
            TimeoutKind::TcpRetrans => T_TCP_RETRANS,
            TimeoutKind::UdpUnreplied => T_UDP,
            TimeoutKind::UdpStream => T_UDP_STREAM,
            TimeoutKind::Icmp => T_ICMP,
            TimeoutKind::Generic => T_GENERIC,
            // NONE has no timeout of its own: CLOSED's.
            TimeoutKind::Sctp(SctpState::None) => T_SCTP + 1,
            TimeoutKind::Sctp(s) => T_SCTP + s as usize,
        };
        self.timeouts[i].load(Ordering::Relaxed)
    }

    /// The timeouts that bound the garbage collector's pause, in seconds:
    /// all but SCTP's, whose handshake and shutdown states last 3 s (an
    /// expired entry is invisible to lookups and the listing at once; the
    /// collector frees it within a pause, at most
    /// [`crate::limits::GC_MAX_PAUSE_SECS`]).
    pub(crate) fn timeouts(&self) -> impl Iterator<Item = u32> + '_ {
        self.timeouts[..T_SCTP]
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
    }

    /// Free lowmem under which a growing table is reported: 1/32 of lowmem.
    pub(crate) fn lowmem_floor_kib(&self) -> u32 {
        self.lowmem_kib / 32
    }
}

impl Tracker {
    /// The largest `max` allowed now.
    pub(crate) fn ceiling(&self) -> u32 {
        limits::max_ceiling(
            self.settings.lowmem_kib,
            self.table.object_size(),
            self.settings.max_lowmem_percent(),
        )
    }
}

#[derive(Clone, Copy)]
enum Id {
    Max,
    MaxLowmemPercent,
    MaxCeiling,
    Buckets,
    Count,
    EntrySize,
    MemoryBytes,
    Timeout(usize),
    LogInvalid,
    DropInvalid,
    TcpLoose,
    TcpBeLiberal,
    TcpMaxRetrans,
    TcpIgnoreInvalidRst,
    Checksum,
}

fn clamp_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn flag(a: &AtomicU32, v: i32) -> Result {
    match v {
        0 | 1 => {
            a.store(v as u32, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(EINVAL),
    }
}

/// Value of sysctl `idx` in namespace `ns`.
pub(crate) fn read(t: &Tracker, ns: &NetState, idx: usize) -> i32 {
    let Some(id) = IDS.get(idx) else {
        return 0;
    };
    let s = &t.settings;
    match *id {
        Id::Max => clamp_i32(s.max() as usize),
        Id::MaxLowmemPercent => s.max_lowmem_percent() as i32,
        Id::MaxCeiling => clamp_i32(t.ceiling() as usize),
        Id::Buckets => clamp_i32(t.table.nbuckets() as usize),
        Id::Count => clamp_i32(ns.shared.count.load(Ordering::Relaxed) as usize),
        Id::EntrySize => t.table.object_size() as i32,
        Id::MemoryBytes => clamp_i32(t.memory_bytes()),
        Id::Timeout(i) => clamp_i32(s.timeouts[i].load(Ordering::Relaxed) as usize),
        Id::LogInvalid => s.log_invalid.load(Ordering::Relaxed) as i32,
        Id::DropInvalid => s.drop_invalid.load(Ordering::Relaxed) as i32,
        Id::Checksum => s.checksum.load(Ordering::Relaxed) as i32,
        Id::TcpLoose => s.tcp_loose.load(Ordering::Relaxed) as i32,
        Id::TcpBeLiberal => s.tcp_be_liberal.load(Ordering::Relaxed) as i32,
        Id::TcpMaxRetrans => s.tcp_max_retrans.load(Ordering::Relaxed) as i32,
        Id::TcpIgnoreInvalidRst => s.tcp_ignore_invalid_rst.load(Ordering::Relaxed) as i32,
    }
}

/// Validates and applies a write of `v` to sysctl `idx`.
pub(crate) fn write(t: &Tracker, ns: &NetState, idx: usize, v: i32) -> Result {
    if !ns.is_init() {
        return Err(EPERM);
    }
    let Some(id) = IDS.get(idx) else {
        return Err(EINVAL);
    };
    let s = &t.settings;
    match *id {
        Id::Max => {
            let _g = s.limit_lock.lock();
            let ceiling = t.ceiling();
            if v < 1 || v as u32 > ceiling {
                pr_warn!(
                    "max {} rejected: allowed 1..{} ({}% of {} MiB lowmem at {} bytes per entry; see max_lowmem_percent)\n",
                    v,
                    ceiling,
                    s.max_lowmem_percent(),
                    s.lowmem_kib >> 10,
                    t.table.object_size()
                );
                return Err(EINVAL);
            }
            s.set_max(v as u32);
            Ok(())
        }
        Id::MaxLowmemPercent => {
            if v < 1 || v as u32 > MAX_LOWMEM_PERCENT {
                pr_warn!(
                    "max_lowmem_percent {} rejected: allowed 1..{}\n",
                    v,
                    MAX_LOWMEM_PERCENT
                );
                return Err(EINVAL);
            }
            let _g = s.limit_lock.lock();
            let ceiling = limits::max_ceiling(s.lowmem_kib, t.table.object_size(), v as u32);
            if ceiling < s.max() {
                pr_warn!(
                    "max_lowmem_percent {} rejected: its ceiling {} is below max {}\n",
                    v,
                    ceiling,
                    s.max()
                );
                return Err(EINVAL);
            }
            s.max_lowmem_percent.store(v as u32, Ordering::Relaxed);
            Ok(())
        }
        Id::Buckets => {
            if v < limits::MIN_BUCKETS as i32 || v as u32 > limits::MAX_BUCKETS {
                pr_warn!(
                    "buckets {} rejected: allowed {}..{}\n",
                    v,
                    limits::MIN_BUCKETS,
                    limits::MAX_BUCKETS
                );
                return Err(EINVAL);
            }
            t.table.resize(v as u32)
        }
        Id::Timeout(i) => {
            let most = i32::MAX as u32 / sys::hz();
            if v < 1 || v as u32 > most {
                pr_warn!("timeout {} rejected: allowed 1..{} seconds\n", v, most);
                return Err(EINVAL);
            }
            s.timeouts[i].store(v as u32, Ordering::Relaxed);
            Ok(())
        }
        Id::LogInvalid => flag(&s.log_invalid, v),
        Id::DropInvalid => flag(&s.drop_invalid, v),
        Id::Checksum => flag(&s.checksum, v),
        Id::TcpLoose => flag(&s.tcp_loose, v),
        Id::TcpBeLiberal => flag(&s.tcp_be_liberal, v),
        Id::TcpIgnoreInvalidRst => flag(&s.tcp_ignore_invalid_rst, v),
        Id::TcpMaxRetrans => {
            // A u8, as nf_conntrack's (proc_dou8vec_minmax).
            if !(0..=255).contains(&v) {
                pr_warn!("tcp_max_retrans {} rejected: allowed 0..255\n", v);
                return Err(EINVAL);
            }
            s.tcp_max_retrans.store(v as u32, Ordering::Relaxed);
            Ok(())
        }
        Id::MaxCeiling | Id::Count | Id::EntrySize | Id::MemoryBytes => Err(EPERM),
    }
}

const RW: u16 = 0o644;
const RO: u16 = 0o444;

/// Global and writable: writable in the initial namespace only.
const fn global(name: &'static CStr) -> SysctlEntry {
    SysctlEntry {
        name,
        mode_init: RW,
        mode_other: RO,
    }
}

const fn read_only(name: &'static CStr) -> SysctlEntry {
    SysctlEntry {
        name,
        mode_init: RO,
        mode_other: RO,
    }
}

/// What each sysctl is, in [`SYSCTLS`] order.
const IDS: [Id; 36] = [
    Id::Max,
    Id::MaxLowmemPercent,
    Id::MaxCeiling,
    Id::Buckets,
    Id::Count,
    Id::EntrySize,
    Id::MemoryBytes,
    Id::Timeout(1),
    Id::Timeout(2),
    Id::Timeout(3),
    Id::Timeout(4),
    Id::Timeout(5),
    Id::Timeout(6),
    Id::Timeout(7),
    Id::Timeout(8),
    Id::Timeout(T_TCP_UNACK),
    Id::Timeout(T_TCP_RETRANS),
    Id::TcpLoose,
    Id::TcpBeLiberal,
    Id::TcpMaxRetrans,
    Id::TcpIgnoreInvalidRst,
    Id::Timeout(T_UDP),
    Id::Timeout(T_UDP_STREAM),
    Id::Timeout(T_ICMP),
    Id::Timeout(T_GENERIC),
    Id::LogInvalid,
    Id::DropInvalid,
    Id::Checksum,
    Id::Timeout(T_SCTP + 1),
    Id::Timeout(T_SCTP + 2),
    Id::Timeout(T_SCTP + 3),
    Id::Timeout(T_SCTP + 4),
    Id::Timeout(T_SCTP + 5),
    Id::Timeout(T_SCTP + 6),
    Id::Timeout(T_SCTP + 7),
    Id::Timeout(T_SCTP + 8),
];

/// The sysctl entries under `/proc/sys/net/rconntrack`.
pub(crate) const SYSCTLS: [SysctlEntry; 36] = [
    global(c"max"),
    global(c"max_lowmem_percent"),
    read_only(c"max_ceiling"),
    global(c"buckets"),
    read_only(c"count"),
    read_only(c"entry_size"),
    read_only(c"memory_bytes"),
    global(c"tcp_timeout_syn_sent"),
    global(c"tcp_timeout_syn_recv"),
    global(c"tcp_timeout_established"),
    global(c"tcp_timeout_fin_wait"),
    global(c"tcp_timeout_close_wait"),
    global(c"tcp_timeout_last_ack"),
    global(c"tcp_timeout_time_wait"),
    global(c"tcp_timeout_close"),
    global(c"tcp_timeout_unacknowledged"),
    global(c"tcp_timeout_max_retrans"),
    global(c"tcp_loose"),
    global(c"tcp_be_liberal"),
    global(c"tcp_max_retrans"),
    global(c"tcp_ignore_invalid_rst"),
    global(c"udp_timeout"),
    global(c"udp_timeout_stream"),
    global(c"icmp_timeout"),
    global(c"generic_timeout"),
    global(c"log_invalid"),
    global(c"drop_invalid"),
    global(c"checksum"),
    global(c"sctp_timeout_closed"),
    global(c"sctp_timeout_cookie_wait"),
    global(c"sctp_timeout_cookie_echoed"),
    global(c"sctp_timeout_established"),
    global(c"sctp_timeout_shutdown_sent"),
    global(c"sctp_timeout_shutdown_recd"),
    global(c"sctp_timeout_shutdown_ack_sent"),
    global(c"sctp_timeout_heartbeat_sent"),
];
