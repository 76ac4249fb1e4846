// SPDX-License-Identifier: GPL-2.0

//! Per-protocol connection state: the TCP state machine, the status word
//! kept in each entry, and which timeout applies after a packet.
//!
//! Pure logic (no `kernel` crate), unit tested on the host. The kernel side
//! stores the status word in an atomic and applies [`update_proto`] with a
//! compare-and-exchange loop, so no per-entry lock is needed.

use crate::sctp::{SctpState, SCTP_STATES};
use crate::tuple::{tcp_flags, tcp_opts, Seg, Tuple, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};

/// TCP connection states, numbered as nf_conntrack's `tcp_conntrack`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum TcpState {
    /// No state yet.
    None = 0,
    /// SYN seen.
    SynSent = 1,
    /// SYN/ACK seen.
    SynRecv = 2,
    /// Three-way handshake done.
    Established = 3,
    /// FIN seen in one direction.
    FinWait = 4,
    /// ACK of the first FIN seen.
    CloseWait = 5,
    /// FIN seen in the other direction.
    LastAck = 6,
    /// Both FINs acknowledged.
    TimeWait = 7,
    /// RST seen.
    Close = 8,
    /// Simultaneous open: SYN seen from both sides.
    SynSent2 = 9,
}

/// Number of TCP states.
pub const TCP_STATES: usize = 10;

const ALL: [TcpState; TCP_STATES] = [
    TcpState::None,
    TcpState::SynSent,
    TcpState::SynRecv,
    TcpState::Established,
    TcpState::FinWait,
    TcpState::CloseWait,
    TcpState::LastAck,
    TcpState::TimeWait,
    TcpState::Close,
    TcpState::SynSent2,
];

impl TcpState {
    /// The state from its number (masked to the table).
    pub fn from_bits(v: u32) -> TcpState {
        ALL.get(v as usize).copied().unwrap_or(TcpState::None)
    }

    /// The name printed in `/proc/net/rconntrack`, as nf_conntrack prints it.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }
}

/// Direction of a packet relative to the connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dir {
    /// Same direction as the packet that created the entry.
    Original = 0,
    /// The other direction.
    Reply = 1,
}

/// Status word bits.
pub mod status {
    /// Mask of the TCP state number (of an SCTP connection: its SCTP
    /// state number).
    pub const TCP_STATE_MASK: u32 = 0xf;
    /// A packet in the reply direction was seen.
    pub const SEEN_REPLY: u32 = 1 << 4;
    /// Traffic both ways: not a candidate for early drop.
    pub const ASSURED: u32 = 1 << 5;
    /// UDP: the [`super::Tick`] two seconds after the first packet
    /// (nf_conntrack's `stream_ts`), in the top 16 bits.
    pub const STREAM_SHIFT: u32 = 16;
}

/// Whether tick `a` is after `b` (wrapping, as `time_after`).
fn tick_after(a: Tick, b: Tick) -> bool {
    (b.wrapping_sub(a) as i16) < 0
}

/// Which timeout applies; indexes [`Timeouts`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimeoutKind {
    /// TCP, by state.
    Tcp(TcpState),
    /// TCP with unacknowledged data, or picked up mid-stream and not
    /// answered (nf_conntrack's `TCP_CONNTRACK_UNACK`), chosen only where
    /// it is below the state's own timeout.
    TcpUnacked,
    /// TCP after `tcp_max_retrans` retransmissions, or a zero window
    /// (nf_conntrack's `TCP_CONNTRACK_RETRANS`), chosen the same way.
    TcpRetrans,
    /// UDP without a reply.
    UdpUnreplied,
    /// UDP with traffic both ways.
    UdpStream,
    /// ICMP/ICMPv6 echo.
    Icmp,
    /// Any other protocol.
    Generic,
    /// SCTP, by state.
    Sctp(SctpState),
}

/// Timeout values in seconds (the sysctl table holds the live ones).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Per TCP state.
    pub tcp: [u32; TCP_STATES],
    /// TCP unacknowledged data or unanswered pickup.
    pub tcp_unack: u32,
    /// TCP retransmissions beyond `tcp_max_retrans`.
    pub tcp_retrans: u32,
    /// UDP unreplied.
    pub udp: u32,
    /// UDP stream.
    pub udp_stream: u32,
    /// ICMP.
    pub icmp: u32,
    /// Generic.
    pub generic: u32,
    /// Per SCTP state.
    pub sctp: [u32; SCTP_STATES],
}

/// nf_conntrack's defaults.
pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    tcp: [
        0,             // NONE
        120,           // SYN_SENT
        60,            // SYN_RECV
        5 * 24 * 3600, // ESTABLISHED
        120,           // FIN_WAIT
        60,            // CLOSE_WAIT
        30,            // LAST_ACK
        120,           // TIME_WAIT
        10,            // CLOSE
        120,           // SYN_SENT2
    ],
    tcp_unack: 300,
    tcp_retrans: 300,
    udp: 30,
    udp_stream: 120,
    icmp: 30,
    generic: 600,
    // nf_conntrack_proto_sctp.c's sctp_timeouts (NONE unused).
    sctp: [0, 10, 3, 3, 210, 3, 3, 3, 30],
};

/// A coarse clock for per-entry timestamps kept in the status word: about
/// 32 ticks a second, wrapping (compared as `time_after` does).
pub type Tick = u16;

/// The [`Tick`] clock at `hz`: how many bits of jiffies one tick drops,
/// so that a tick is at most 1/32 s (a power of two: see [`tick_of`]).
pub fn tick_shift(hz: u32) -> u32 {
    let per = (hz / 32).max(1);
    31 - per.leading_zeros()
}

/// The tick of `jiffies` (its low 32 bits). A shift, not a division: the
/// ticks then wrap with jiffies, so a 32-bit jiffies wrap (5 minutes
/// after boot) is no jump in ticks.
pub fn tick_of(jiffies: u32, shift: u32) -> Tick {
    (jiffies >> shift) as Tick
}

/// Ticks to wait so that a later tick above `start + ticks_2s(..)` means
/// more than 2 s passed (nf_conntrack's `stream_ts = jiffies + 2 * HZ`,
/// checked with `time_after`): ceil(2 HZ / tick), at most one tick more.
pub fn ticks_2s(hz: u32, shift: u32) -> Tick {
    (2 * hz).div_ceil(1u32 << shift) as Tick
}

/// What the tracker does with the entry after a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// Store [`Update::status`] and arm [`Update::timeout`].
    Keep,
    /// Remove the entry; the packet passes (nf_conntrack's `nf_ct_kill`).
    Kill,
    /// Remove the entry; the packet starts a new connection, oriented by
    /// its own direction (nf_conntrack's kill and `NF_REPEAT`).
    Reopen,
}

/// Result of applying one packet to an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Update {
    /// The new status word.
    pub status: u32,
    /// The timeout to arm, if the packet refreshes it.
    pub timeout: Option<TimeoutKind>,
    /// The packet does not fit the connection state (counted as invalid).
    pub invalid: bool,
    /// With `invalid`: the window checks failed (else the state table
    /// refused the segment).
    pub window: bool,
    /// With `invalid`: lower the remaining time to the unacknowledged
    /// timeout if it is at least 120 s and above it (nf_conntrack's
    /// `nf_tcp_handle_invalid()`).
    pub lower: bool,
    /// What happens to the entry.
    pub action: Action,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tr {
    To(TcpState),
    Ignore,
    Invalid,
}

/// Packet classes of the TCP table (nf_conntrack's `TCP_*_SET`).
mod index {
    pub(super) const SYN: u8 = 0;
    pub(super) const SYNACK: u8 = 1;
    pub(super) const FIN: u8 = 2;
    pub(super) const ACK: u8 = 3;
    pub(super) const RST: u8 = 4;
    pub(super) const NONE: u8 = 5;
}

fn tcp_index(flags: u8) -> u8 {
    use tcp_flags::*;
    if flags & RST != 0 {
        index::RST
    } else if flags & SYN != 0 {
        if flags & ACK != 0 {
            index::SYNACK
        } else {
            index::SYN
        }
    } else if flags & FIN != 0 {
        index::FIN
    } else if flags & ACK != 0 {
        index::ACK
    } else {
        index::NONE
    }
}

/// nf_conntrack's `tcp_conntracks` table, indexed `[dir][packet][state]`.
fn tcp_transition(dir: Dir, flags: u8, from: TcpState) -> Tr {
    use TcpState::*;
    use Tr::{Ignore as IG, Invalid as IV, To};
    const SS: Tr = To(SynSent);
    const SR: Tr = To(SynRecv);
    const ES: Tr = To(Established);
    const FW: Tr = To(FinWait);
    const CW: Tr = To(CloseWait);
    const LA: Tr = To(LastAck);
    const TW: Tr = To(TimeWait);
    const CL: Tr = To(Close);
    const S2: Tr = To(SynSent2);
    //               sNO sSS sSR sES sFW sCW sLA sTW sCL sS2
    const ORIG: [[Tr; TCP_STATES]; 6] = [
        /* syn */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        /* fin */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        /* rst */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ];
    const REPLY: [[Tr; TCP_STATES]; 6] = [
        /* syn */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        /* fin */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        /* rst */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ];
    let table = if dir == Dir::Original { &ORIG } else { &REPLY };
    table[tcp_index(flags) as usize][from as usize]
}

/// The status word of a new entry created by a packet with this tuple at
/// tick `now`, `two_secs` ticks being 2 s ([`ticks_2s`]). TCP entries
/// start from [`tcp_first`] instead.
pub fn initial_status(t: &Tuple, now: Tick, two_secs: Tick) -> u32 {
    match t.l4 {
        IPPROTO_UDP => {
            let stream = now.wrapping_add(two_secs);
            u32::from(stream) << status::STREAM_SHIFT
        }
        _ => 0,
    }
}

/// The timeout that applies to an entry in this status: for protocols other
/// than TCP, a function of the status alone, so that a CPU that lost a
/// race on the status can re-arm the timeout of the status in place (see
/// the tracker's `update`). TCP timeouts also depend on the window state
/// and are chosen by [`tcp_packet`] under the entry's lock.
pub fn timeout_kind(l4: u8, is_icmp: bool, st: u32) -> TimeoutKind {
    match l4 {
        IPPROTO_TCP => TimeoutKind::Tcp(TcpState::from_bits(st & status::TCP_STATE_MASK)),
        // Replied but within 2 s of the first packet: still the short
        // timeout (DNS-style request/reply), as nf_conntrack.
        IPPROTO_UDP => {
            if st & status::ASSURED != 0 {
                TimeoutKind::UdpStream
            } else {
                TimeoutKind::UdpUnreplied
            }
        }
        IPPROTO_SCTP => TimeoutKind::Sctp(SctpState::from_bits(st & status::TCP_STATE_MASK)),
        _ if is_icmp => TimeoutKind::Icmp,
        _ => TimeoutKind::Generic,
    }
}

fn keep(status: u32, timeout: Option<TimeoutKind>) -> Update {
    Update {
        status,
        timeout,
        invalid: false,
        window: false,
        lower: false,
        action: Action::Keep,
    }
}

fn act(status: u32, action: Action) -> Update {
    Update {
        action,
        ..keep(status, None)
    }
}

fn invalid(status: u32, lower: bool) -> Update {
    Update {
        invalid: true,
        lower,
        ..keep(status, None)
    }
}

/// Applies a packet of a protocol other than TCP (see [`tcp_packet`]) in
/// direction `dir`, at tick `now`, to an entry whose status is `st`.
/// Follows nf_conntrack_udp_packet() and the generic/ICMP handlers of 7.3,
/// with one ordering detail kept: nf_conntrack sets SEEN_REPLY after the
/// protocol handler, so the rules below test the status *before* this
/// packet.
///
/// TCP has its own state machine and window: the tracker hands TCP to
/// [`tcp_packet`], and SCTP to [`crate::sctp::sctp_packet`]. A TCP or SCTP
/// connection (`l4`) passed here anyway is answered invalid (counted,
/// nothing changed), never treated as a generic protocol.
/// `icmp`: the connection is ICMP or ICMPv6 ([`Tuple::is_icmp`]); the
/// protocol is all this reads of a connection.
pub fn update_proto(l4: u8, icmp: bool, st: u32, dir: Dir, now: Tick) -> Update {
    if l4 == IPPROTO_TCP || l4 == IPPROTO_SCTP {
        return invalid(st, false);
    }
    let replied = st & status::SEEN_REPLY != 0;
    let mut new = st;
    if dir == Dir::Reply {
        new |= status::SEEN_REPLY;
    }
    // UDP: assured by a stream. ICMP never is; nor, as nf_conntrack's
    // generic_packet(), any other protocol (UDP-Lite included): early drop
    // may take them.
    if l4 == IPPROTO_UDP {
        let stream = (st >> status::STREAM_SHIFT) as Tick;
        if replied && tick_after(now, stream) {
            new |= status::ASSURED;
        }
    }
    keep(new, Some(timeout_kind(l4, icmp, new)))
}

/// Per-direction TCP flags, valued as nf_conntrack's `IP_CT_TCP_FLAG_*`.
pub mod tcpf {
    /// The direction sent a window scale option.
    pub const WINDOW_SCALE: u8 = 0x01;
    /// The direction permits SACK.
    pub const SACK_PERM: u8 = 0x02;
    /// The direction sent the first FIN.
    pub const CLOSE_INIT: u8 = 0x04;
    /// No window checks for this direction (picked up mid-stream).
    pub const BE_LIBERAL: u8 = 0x08;
    /// The direction sent data the other has not acknowledged.
    pub const DATA_UNACK: u8 = 0x10;
    /// `maxack` holds a value.
    pub const MAXACK_SET: u8 = 0x20;
    /// In `last_flags`: the ignored SYN may draw an RFC 5961 challenge ACK
    /// (`IP_CT_EXP_CHALLENGE_ACK`).
    pub const EXP_CHALLENGE_ACK: u8 = 0x40;
    /// In `last_flags`: simultaneous open (`IP_CT_TCP_SIMULTANEOUS_OPEN`).
    pub const SIMULTANEOUS_OPEN: u8 = 0x04;
}

/// One direction's window data (nf_conntrack's `ip_ct_tcp_state`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Half {
    /// Highest sequence number sent + 1 (`td_end`).
    pub end: u32,
    /// Highest acknowledged + window of the other side (`td_maxend`).
    pub maxend: u32,
    /// Largest window seen, scaled (`td_maxwin`).
    pub maxwin: u32,
    /// Highest acknowledgement sent (`td_maxack`).
    pub maxack: u32,
    /// Window scale shift (`td_scale`).
    pub scale: u8,
    /// [`tcpf`] bits.
    pub flags: u8,
}

/// A TCP connection's window and history (nf_conntrack's `ip_ct_tcp`, less
/// the state, which is in the status word).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpWin {
    /// Per direction: `[original, reply]`.
    pub seen: [Half; 2],
    /// Retransmissions of the last ACK segment.
    pub retrans: u8,
    /// Class of the last segment applied or ignored (`last_index`).
    pub last_index: u8,
    /// Its direction (0 original, 1 reply).
    pub last_dir: u8,
    /// Options of an ignored SYN, and the `EXP_CHALLENGE_ACK` and
    /// `SIMULTANEOUS_OPEN` marks.
    pub last_flags: u8,
    /// Window scale of an ignored SYN.
    pub last_wscale: u8,
    /// Window of the last segment, unscaled.
    pub last_win: u16,
    /// Sequence number of the last segment.
    pub last_seq: u32,
    /// Acknowledgement of the last segment.
    pub last_ack: u32,
    /// `end` of the last segment.
    pub last_end: u32,
}

/// Words of a packed [`TcpWin`].
pub const TCP_WIN_WORDS: usize = 13;

impl TcpWin {
    /// Packs into words (kept in the entry as atomics).
    pub fn pack(&self) -> [u32; TCP_WIN_WORDS] {
        let [a, b] = self.seen;
        let meta = u32::from(a.scale & 0xf)
            | u32::from(b.scale & 0xf) << 4
            | u32::from(a.flags) << 8
            | u32::from(b.flags) << 16
            | u32::from(self.retrans) << 24;
        let last = u32::from(self.last_win)
            | u32::from(self.last_index & 7) << 16
            | u32::from(self.last_dir & 1) << 19
            | u32::from(self.last_wscale & 0xf) << 20
            | u32::from(self.last_flags) << 24;
        [
            a.end,
            a.maxend,
            a.maxwin,
            a.maxack,
            b.end,
            b.maxend,
            b.maxwin,
            b.maxack,
            meta,
            last,
            self.last_seq,
            self.last_ack,
            self.last_end,
        ]
    }

    /// The inverse of [`TcpWin::pack`].
    pub fn unpack(w: &[u32; TCP_WIN_WORDS]) -> TcpWin {
        let (meta, last) = (w[8], w[9]);
        TcpWin {
            seen: [
                Half {
                    end: w[0],
                    maxend: w[1],
                    maxwin: w[2],
                    maxack: w[3],
                    scale: (meta & 0xf) as u8,
                    flags: (meta >> 8) as u8,
                },
                Half {
                    end: w[4],
                    maxend: w[5],
                    maxwin: w[6],
                    maxack: w[7],
                    scale: ((meta >> 4) & 0xf) as u8,
                    flags: (meta >> 16) as u8,
                },
            ],
            retrans: (meta >> 24) as u8,
            last_win: last as u16,
            last_index: ((last >> 16) & 7) as u8,
            last_dir: ((last >> 19) & 1) as u8,
            last_wscale: ((last >> 20) & 0xf) as u8,
            last_flags: (last >> 24) as u8,
            last_seq: w[10],
            last_ack: w[11],
            last_end: w[12],
        }
    }
}

/// The TCP sysctls besides timeouts, as nf_conntrack's.
#[derive(Clone, Copy, Debug)]
pub struct TcpCfg {
    /// `tcp_loose`: pick up connections from an ACK (default 1).
    pub loose: bool,
    /// `tcp_be_liberal`: accept out-of-window packets (default 0).
    pub be_liberal: bool,
    /// `tcp_max_retrans`: retransmissions before the retrans timeout (3).
    pub max_retrans: u8,
    /// `tcp_ignore_invalid_rst`: accept RSTs below `maxack` (default 0).
    pub ignore_invalid_rst: bool,
}

/// nf_conntrack's defaults.
pub const DEFAULT_TCP_CFG: TcpCfg = TcpCfg {
    loose: true,
    be_liberal: false,
    max_retrans: 3,
    ignore_invalid_rst: false,
};

fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// `tcp_options()`: the window scale and SACK permission of a segment.
fn tcp_options(seg: &Seg, h: &mut Half) {
    if seg.opts & tcp_opts::PRESENT == 0 {
        return;
    }
    h.scale = 0;
    h.flags &= tcpf::BE_LIBERAL;
    if seg.opts & tcp_opts::SACK_PERM != 0 {
        h.flags |= tcpf::SACK_PERM;
    }
    if seg.opts & tcp_opts::WINDOW_SCALE != 0 {
        h.scale = seg.wscale;
        h.flags |= tcpf::WINDOW_SCALE;
    }
}

/// `tcp_init_sender()`.
fn init_sender(w: &mut TcpWin, d: usize, seg: &Seg) {
    let s = &mut w.seen[d];
    s.end = seg.end;
    s.maxend = seg.end;
    s.maxwin = u32::from(seg.win).max(1);
    tcp_options(seg, s);
    // RFC 1323: scaling only if both sides sent the option.
    if d == 1 && (w.seen[0].flags & w.seen[1].flags & tcpf::WINDOW_SCALE) == 0 {
        w.seen[0].scale = 0;
        w.seen[1].scale = 0;
    }
}

/// `nf_ct_tcp_state_reset()`.
fn state_reset(h: &mut Half) {
    *h = Half {
        flags: h.flags & tcpf::BE_LIBERAL,
        ..Half::default()
    };
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WinRes {
    Accept,
    Ignore,
    Invalid,
}

fn max_ack_window(h: &Half) -> u32 {
    h.maxwin.max(66000)
}

/// `tcp_in_window()` of 7.3 (no NAT sequence adjustment: rconntrack does
/// not mangle sequence numbers). `state` is the state before the packet.
fn in_window(
    w: &mut TcpWin,
    state: TcpState,
    d: usize,
    idx: u8,
    seg: &Seg,
    cfg: &TcpCfg,
) -> WinRes {
    use tcp_flags::*;
    let r = 1 - d;
    let mut ack = seg.ack;
    let mut seq = seg.seq;
    let mut end = seg.end;
    let mut sack = if w.seen[r].flags & tcpf::SACK_PERM != 0 {
        seg.sack
    } else {
        ack
    };
    let mut win = u32::from(seg.win);
    let syn = seg.flags & SYN != 0;
    let has_ack = seg.flags & ACK != 0;
    let rst = seg.flags & RST != 0;
    let liberal = |w: &TcpWin| w.seen[d].flags & tcpf::BE_LIBERAL != 0 || cfg.be_liberal;
    let fail = |w: &TcpWin, res: WinRes| if liberal(w) { WinRes::Accept } else { res };

    if w.seen[d].maxwin == 0 {
        if syn {
            init_sender(w, d, seg);
            if !has_ack {
                // Simultaneous open.
                return WinRes::Accept;
            }
        } else {
            // Picked up mid-stream: use what the packet says.
            let s = &mut w.seen[d];
            s.end = end;
            let swin = win << s.scale;
            s.maxwin = swin.max(1);
            s.maxend = end.wrapping_add(s.maxwin);
            if w.seen[r].maxwin == 0 {
                w.seen[r].end = sack;
                w.seen[r].maxend = sack;
            } else if sack == w.seen[r].end.wrapping_add(1) {
                // Likely a reply to a keepalive.
                w.seen[r].end = w.seen[r].end.wrapping_add(1);
            }
        }
    } else if syn
        && after(end, w.seen[d].end)
        && matches!(state, TcpState::SynSent | TcpState::SynRecv)
    {
        // A reinitialised connection uses higher sequence numbers.
        init_sender(w, d, seg);
        if d == 1 && !has_ack {
            return WinRes::Accept;
        }
    }

    if !has_ack || (rst && ack == 0) {
        // No ACK, or a broken stack's RST with a zero ACK: as if it
        // acknowledged what the receiver sent.
        ack = w.seen[r].end;
        sack = ack;
    }
    if rst && seq == 0 && state == TcpState::SynSent {
        // A RST answering a SYN.
        seq = w.seen[d].end;
        end = seq;
    }

    let (s, rc) = (w.seen[d], w.seen[r]);
    if !before(seq, s.maxend.wrapping_add(1)) {
        let overshot = end.wrapping_sub(s.maxend).wrapping_add(1);
        let ack_ok = after(
            sack,
            rc.end.wrapping_sub(max_ack_window(&s)).wrapping_sub(1),
        );
        let in_recv_win =
            rc.maxwin != 0 && after(end, s.end.wrapping_sub(rc.maxwin).wrapping_sub(1));
        if in_recv_win && ack_ok && overshot <= rc.maxwin && before(sack, rc.end.wrapping_add(1)) {
            // A stack sending more than the window allows: note the data
            // so that its ACK is not over the upper bound later.
            w.seen[d].end = end;
            w.seen[d].flags |= tcpf::DATA_UNACK;
            return fail(w, WinRes::Ignore);
        }
        return fail(w, WinRes::Invalid);
    }
    if !before(sack, rc.end.wrapping_add(1)) {
        // ACK over the upper bound: acknowledges data never seen.
        return fail(w, WinRes::Invalid);
    }
    if rc.maxwin != 0 && !after(end, s.end.wrapping_sub(rc.maxwin).wrapping_sub(1)) {
        // SEQ under the lower bound: already acknowledged data again.
        return fail(w, WinRes::Ignore);
    }
    if !after(
        sack,
        rc.end.wrapping_sub(max_ack_window(&s)).wrapping_sub(1),
    ) {
        // ACK under the lower bound: an overly delayed ACK.
        return fail(w, WinRes::Ignore);
    }

    if !syn {
        win <<= s.scale;
    }
    let swin = win.wrapping_add(sack.wrapping_sub(ack));
    let s = &mut w.seen[d];
    if s.maxwin < swin {
        s.maxwin = swin;
    }
    if after(end, s.end) {
        s.end = end;
        s.flags |= tcpf::DATA_UNACK;
    }
    if has_ack {
        if s.flags & tcpf::MAXACK_SET == 0 {
            s.maxack = ack;
            s.flags |= tcpf::MAXACK_SET;
        } else if after(ack, s.maxack) {
            s.maxack = ack;
        }
    }
    let s = w.seen[d];
    let rc = &mut w.seen[r];
    if rc.maxwin != 0 && after(end, s.maxend) {
        rc.maxwin = rc.maxwin.wrapping_add(end.wrapping_sub(s.maxend));
    }
    if after(sack.wrapping_add(win), rc.maxend.wrapping_sub(1)) {
        rc.maxend = sack.wrapping_add(win);
        if win == 0 {
            rc.maxend = rc.maxend.wrapping_add(1);
        }
    }
    if ack == rc.end {
        rc.flags &= !tcpf::DATA_UNACK;
    }

    if idx == index::ACK {
        if usize::from(w.last_dir) == d
            && w.last_seq == seq
            && w.last_ack == ack
            && w.last_end == end
            && w.last_win == seg.win
        {
            w.retrans = w.retrans.saturating_add(1);
        } else {
            w.last_dir = d as u8;
            w.last_seq = seq;
            w.last_ack = ack;
            w.last_end = end;
            w.last_win = seg.win;
            w.retrans = 0;
        }
    }
    WinRes::Accept
}

/// `nf_tcp_handle_invalid()`: whether an out-of-window FIN or RST of an
/// assured connection, answering the other side's FIN or RST, lowers its
/// timeout.
fn handle_invalid(w: &mut TcpWin, st: u32, d: usize, idx: u8) -> bool {
    if st & status::ASSURED == 0 || !matches!(idx, index::RST | index::FIN) {
        return false;
    }
    if usize::from(w.last_dir) != d && matches!(w.last_index, index::FIN | index::RST) {
        return true;
    }
    w.last_index = idx;
    w.last_dir = d as u8;
    false
}

/// The window of a new connection from its first segment (`tcp_new()`),
/// or `None` if the segment cannot start one.
fn tcp_new(seg: &Seg, cfg: &TcpCfg) -> Option<TcpWin> {
    let mut w = TcpWin::default();
    let s = &mut w.seen[0];
    match tcp_transition(Dir::Original, seg.flags, TcpState::None) {
        Tr::To(TcpState::SynSent) => {
            s.end = seg.end;
            s.maxwin = u32::from(seg.win).max(1);
            s.maxend = s.end;
            tcp_options(seg, s);
        }
        Tr::To(_) if cfg.loose => {
            // Mid-stream: history lost; liberal, SACK assumed.
            s.end = seg.end;
            s.maxwin = u32::from(seg.win).max(1);
            s.maxend = s.end.wrapping_add(s.maxwin);
            w.seen[0].flags = tcpf::SACK_PERM | tcpf::BE_LIBERAL;
            w.seen[1].flags = tcpf::SACK_PERM | tcpf::BE_LIBERAL;
        }
        _ => return None,
    }
    w.last_index = index::NONE;
    Some(w)
}

/// Whether `seg` can start a TCP connection under `cfg` (a SYN, or an ACK
/// with `tcp_loose`).
pub fn tcp_can_create(seg: &Seg, cfg: &TcpCfg) -> bool {
    tcp_new(seg, cfg).is_some()
}

/// The status, window and timeout of a new TCP connection whose first
/// segment is `seg` (nf_conntrack's `tcp_new()`, then
/// `nf_conntrack_tcp_packet()` on the same segment), or `None`.
pub fn tcp_first(
    seg: &Seg,
    cfg: &TcpCfg,
    secs: impl Fn(TimeoutKind) -> u32,
) -> Option<(u32, TcpWin, TimeoutKind)> {
    let mut w = tcp_new(seg, cfg)?;
    let u = tcp_packet(0, &mut w, Dir::Original, seg, cfg, secs);
    match (u.invalid, u.action, u.timeout) {
        (false, Action::Keep, Some(k)) => Some((u.status, w, k)),
        _ => None,
    }
}

/// `st` after an accepted packet in direction `dir`: nf_conntrack_in()
/// sets SEEN_REPLY for every reply-direction packet the protocol handler
/// accepts, ignored ones included.
fn seen(st: u32, dir: Dir) -> u32 {
    if dir == Dir::Reply {
        st | status::SEEN_REPLY
    } else {
        st
    }
}

/// Whether the state allows an early drop (`tcp_can_early_drop()`).
fn closing(s: TcpState) -> bool {
    use TcpState::*;
    matches!(s, FinWait | LastAck | TimeWait | Close | CloseWait)
}

/// Applies TCP segment `seg` in direction `dir` to a connection in status
/// `st` with window `w` (updated in place), as
/// `nf_conntrack_tcp_packet()` of 7.3 does under the conntrack's lock: the
/// state table, the reopen/ignore/resync rules around it, the window
/// checks, and the choice of timeout (`secs` gives a kind's seconds).
/// The caller holds the entry's lock from reading `st` and `w` to storing
/// both and the expiry.
pub fn tcp_packet(
    st: u32,
    w: &mut TcpWin,
    dir: Dir,
    seg: &Seg,
    cfg: &TcpCfg,
    secs: impl Fn(TimeoutKind) -> u32,
) -> Update {
    use TcpState::{Close, Established, FinWait, LastAck, SynRecv, SynSent, SynSent2, TimeWait};
    let d = dir as usize;
    let idx = tcp_index(seg.flags);
    let mut old = TcpState::from_bits(st & status::TCP_STATE_MASK);
    let mut tr = tcp_transition(dir, seg.flags, old);
    let established = old == Established && st & status::ASSURED != 0;
    let mut check_window = true;

    if tr == Tr::To(SynSent) && matches!(old, TimeWait | Close) {
        // RFC 1122: a SYN may reopen a connection in TIME_WAIT; also an
        // aborted one (reset from the SYN's side).
        let close_init = (w.seen[0].flags | w.seen[1].flags) & tcpf::CLOSE_INIT != 0;
        if close_init || (usize::from(w.last_dir) == d && w.last_index == index::RST) {
            return act(st, Action::Reopen);
        }
        tr = Tr::Ignore;
    }
    match tr {
        Tr::Ignore => {
            if idx == index::SYNACK
                && w.last_index == index::SYN
                && usize::from(w.last_dir) != d
                && seg.ack == w.last_end
            {
                // This SYN/ACK acknowledges a SYN ignored earlier: both
                // ends are in sync, we were not. Resync from the SYN.
                old = SynSent;
                tr = Tr::To(SynRecv);
                let ld = usize::from(w.last_dir);
                let h = &mut w.seen[ld];
                h.end = w.last_end;
                h.maxend = w.last_end;
                h.maxwin = u32::from(w.last_win).max(1);
                h.scale = w.last_wscale;
                w.last_flags &= !tcpf::EXP_CHALLENGE_ACK;
                w.seen[ld].flags = w.last_flags;
                state_reset(&mut w.seen[d]);
            } else {
                w.last_index = idx;
                w.last_dir = d as u8;
                w.last_seq = seg.seq;
                w.last_end = seg.end;
                w.last_win = seg.win;
                if idx == index::SYN && dir == Dir::Original {
                    // Note the SYN's options, for a SYN/ACK that answers it.
                    let mut h = Half::default();
                    tcp_options(seg, &mut h);
                    w.last_flags = h.flags & (tcpf::WINDOW_SCALE | tcpf::SACK_PERM);
                    w.last_wscale = if h.flags & tcpf::WINDOW_SCALE != 0 {
                        h.scale
                    } else {
                        0
                    };
                    if old == LastAck {
                        w.last_flags |= tcpf::EXP_CHALLENGE_ACK;
                    }
                }
                if old == SynSent && idx == index::ACK && dir == Dir::Reply {
                    // A possible challenge ACK answering the SYN.
                    w.last_ack = seg.ack;
                }
                return keep(seen(st, dir), None);
            }
        }
        Tr::Invalid => return invalid(st, false),
        Tr::To(TimeWait)
            if old == LastAck
                && idx == index::ACK
                && usize::from(w.last_dir) != d
                && w.last_index == index::SYN
                && w.last_flags & tcpf::EXP_CHALLENGE_ACK != 0 =>
        {
            // An RFC 5961 challenge ACK to a spurious SYN does not
            // acknowledge the last FIN.
            w.last_flags &= !tcpf::EXP_CHALLENGE_ACK;
            return keep(seen(st, dir), None);
        }
        Tr::To(SynSent2) => w.last_flags |= tcpf::SIMULTANEOUS_OPEN,
        Tr::To(SynRecv)
            if dir == Dir::Reply
                && idx == index::ACK
                && w.last_flags & tcpf::SIMULTANEOUS_OPEN != 0 =>
        {
            tr = Tr::To(Established)
        }
        Tr::To(Close) if idx == index::RST => 'rst: {
            if closing(old) {
                // The tuple may be reused already: no checks.
                check_window = false;
                break 'rst;
            }
            let other = w.seen[1 - d];
            if other.flags & tcpf::MAXACK_SET != 0 && w.last_index != index::SYN {
                if seg.seq == 0 && !established {
                    break 'rst;
                }
                if before(seg.seq, other.maxack) && !cfg.ignore_invalid_rst {
                    // Below what the other side acknowledged: invalid.
                    return Update {
                        window: true,
                        ..invalid(st, false)
                    };
                }
                if !established || seg.seq == other.maxack {
                    break 'rst;
                }
                if w.last_index == index::ACK
                    && usize::from(w.last_dir) == d
                    && seg.seq == w.last_end
                {
                    // The RST ends a train of this side's segments.
                    break 'rst;
                }
                // Not an exact match: keep the state, for a possible
                // challenge ACK.
                tr = Tr::To(old);
            }
            let replied = st & status::SEEN_REPLY != 0;
            let assured = st & status::ASSURED != 0;
            if ((replied && w.last_index == index::SYN && usize::from(w.last_dir) != d)
                || (!assured && w.last_index == index::ACK))
                && seg.ack == w.last_end
            {
                // A RST to a SYN or ACK let through as ignored above.
                check_window = false;
                break 'rst;
            }
            if old == SynSent
                && w.last_index == index::ACK
                && w.last_dir == 1
                && seg.seq == w.last_ack
            {
                // A RST answering a challenge ACK let through earlier.
                check_window = false;
            }
        }
        Tr::To(_) => {}
    }
    let Tr::To(new_state) = tr else {
        return invalid(st, false);
    };

    if check_window {
        match in_window(w, old, d, idx, seg, cfg) {
            WinRes::Accept => {}
            WinRes::Ignore => return keep(seen(st, dir), None),
            WinRes::Invalid => {
                let lower = handle_invalid(w, st, d, idx);
                return Update {
                    window: true,
                    ..invalid(st, lower)
                };
            }
        }
    }

    // In window from here on.
    w.last_index = idx;
    w.last_dir = d as u8;
    if old != new_state && new_state == FinWait {
        w.seen[d].flags |= tcpf::CLOSE_INIT;
    }
    let own = TimeoutKind::Tcp(new_state);
    let t_new = secs(own);
    let retrans_t = secs(TimeoutKind::TcpRetrans);
    let unack_t = secs(TimeoutKind::TcpUnacked);
    let data_unack = (w.seen[0].flags | w.seen[1].flags) & tcpf::DATA_UNACK != 0;
    let mut kind = if w.retrans >= cfg.max_retrans && t_new > retrans_t {
        TimeoutKind::TcpRetrans
    } else if ((idx == index::RST && new_state == Established) || data_unack) && t_new > unack_t {
        // A RST that left the connection established, or data in flight.
        TimeoutKind::TcpUnacked
    } else if w.last_win == 0 && t_new > retrans_t {
        TimeoutKind::TcpRetrans
    } else {
        own
    };

    let mut new = (st & !status::TCP_STATE_MASK) | new_state as u32;
    if dir == Dir::Reply {
        new |= status::SEEN_REPLY;
    }
    if st & status::SEEN_REPLY == 0 {
        if seg.flags & tcp_flags::RST != 0 {
            // "If only reply is a RST ... delete the conntrack
            // immediately."
            return act(st, Action::Kill);
        }
        if idx == index::SYN && old == SynSent {
            // A retransmitted SYN does not renew the timeout: else port
            // reuse keeps an unanswered entry alive forever.
            return keep(new, None);
        }
        // Picked up mid-stream and not answered: no ESTABLISHED timeout.
        if new_state == Established && secs(kind) > unack_t {
            kind = TimeoutKind::TcpUnacked;
        }
    } else if st & status::ASSURED == 0
        && matches!(old, SynRecv | Established)
        && new_state == Established
    {
        // A valid ACK after SYN_RECV, or an answered pickup.
        new |= status::ASSURED;
    }
    keep(new, Some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(t: &Tuple, st: u32, dir: Dir, now: Tick) -> Update {
        update_proto(t.l4, t.is_icmp(), st, dir, now)
    }
    use crate::tuple::{tcp_flags::*, NFPROTO_IPV4};

    fn state(st: u32) -> TcpState {
        TcpState::from_bits(st & status::TCP_STATE_MASK)
    }

    fn secs(k: TimeoutKind) -> u32 {
        let d = DEFAULT_TIMEOUTS;
        match k {
            TimeoutKind::Tcp(TcpState::SynSent2) => d.tcp[1],
            TimeoutKind::Tcp(s) => d.tcp[s as usize],
            TimeoutKind::TcpUnacked => d.tcp_unack,
            TimeoutKind::TcpRetrans => d.tcp_retrans,
            TimeoutKind::UdpUnreplied => d.udp,
            TimeoutKind::UdpStream => d.udp_stream,
            TimeoutKind::Icmp => d.icmp,
            TimeoutKind::Generic => d.generic,
            TimeoutKind::Sctp(s) => d.sctp[s as usize],
        }
    }

    /// A segment: `len` bytes of data at `seq`.
    fn seg(flags: u8, seq: u32, ack: u32, win: u16, len: u32) -> Seg {
        let fs = u32::from(flags & FIN) + u32::from((flags & SYN) >> 1);
        Seg {
            flags,
            seq,
            ack,
            sack: ack,
            win,
            end: seq.wrapping_add(len).wrapping_add(fs),
            opts: 0,
            wscale: 0,
            ..Seg::default()
        }
    }

    fn with_wscale(mut s: Seg, shift: u8) -> Seg {
        s.opts = tcp_opts::PRESENT | tcp_opts::WINDOW_SCALE;
        s.wscale = shift;
        s
    }

    /// A connection as the tracker keeps it.
    struct Ct {
        st: u32,
        w: TcpWin,
        cfg: TcpCfg,
    }

    impl Ct {
        fn new(first: Seg) -> Ct {
            Ct::with_cfg(first, DEFAULT_TCP_CFG)
        }

        fn with_cfg(first: Seg, cfg: TcpCfg) -> Ct {
            let (st, w, _) = tcp_first(&first, &cfg, secs).expect("created");
            Ct { st, w, cfg }
        }

        fn pkt(&mut self, dir: Dir, s: Seg) -> Update {
            let u = tcp_packet(self.st, &mut self.w, dir, &s, &self.cfg, secs);
            self.st = u.status;
            u
        }

        fn state(&self) -> TcpState {
            state(self.st)
        }
    }

    const O: Dir = Dir::Original;
    const R: Dir = Dir::Reply;
    // Initial sequence numbers of client and server; windows 1000.
    const C: u32 = 100_000;
    const S: u32 = 500_000;

    fn established() -> Ct {
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        assert_eq!(ct.state(), TcpState::SynSent);
        ct.pkt(R, seg(SYN | ACK, S, C + 1, 1000, 0));
        ct.pkt(O, seg(ACK, C + 1, S + 1, 1000, 0));
        assert_eq!(ct.state(), TcpState::Established);
        assert!(ct.st & status::ASSURED != 0);
        ct
    }

    #[test]
    fn handshake_data_fin() {
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        let steps = [
            (R, seg(SYN | ACK, S, C + 1, 1000, 0), TcpState::SynRecv),
            (O, seg(ACK, C + 1, S + 1, 1000, 0), TcpState::Established),
            (
                O,
                seg(ACK | PSH, C + 1, S + 1, 1000, 100),
                TcpState::Established,
            ),
            (R, seg(ACK, S + 1, C + 101, 1000, 0), TcpState::Established),
            (
                O,
                seg(FIN | ACK, C + 101, S + 1, 1000, 0),
                TcpState::FinWait,
            ),
            (R, seg(ACK, S + 1, C + 102, 1000, 0), TcpState::CloseWait),
            (
                R,
                seg(FIN | ACK, S + 1, C + 102, 1000, 0),
                TcpState::LastAck,
            ),
            (O, seg(ACK, C + 102, S + 2, 1000, 0), TcpState::TimeWait),
        ];
        for (i, (dir, s, want)) in steps.into_iter().enumerate() {
            let u = ct.pkt(dir, s);
            assert!(!u.invalid, "step {i}");
            assert_eq!(ct.state(), want, "step {i}");
        }
        assert!(ct.st & status::ASSURED != 0);
        assert!(ct.st & status::SEEN_REPLY != 0);
    }

    // Data the receiver has not acknowledged: the unacknowledged timeout
    // (300 s) instead of ESTABLISHED's 5 days, until it is acknowledged.
    #[test]
    fn unacknowledged_data_timeout() {
        let mut ct = established();
        let u = ct.pkt(O, seg(ACK | PSH, C + 1, S + 1, 1000, 100));
        assert_eq!(u.timeout, Some(TimeoutKind::TcpUnacked));
        let u = ct.pkt(R, seg(ACK, S + 1, C + 101, 1000, 0));
        assert_eq!(u.timeout, Some(TimeoutKind::Tcp(TcpState::Established)));
    }

    // The off-path attack of the issue: a RST with the right tuple but a
    // sequence number outside the window is invalid and changes nothing;
    // one at exactly the expected sequence number closes.
    #[test]
    fn rst_out_of_window_is_invalid() {
        let mut ct = established();
        let before_w = ct.w;
        let u = ct.pkt(R, seg(RST, S + 1 + 1_000_000, 0, 0, 0));
        assert!(u.invalid && u.window);
        assert!(!u.lower);
        assert_eq!(ct.state(), TcpState::Established);
        // Only the last-segment note moved (nf_tcp_handle_invalid).
        assert_eq!(ct.w.seen, before_w.seen);
        // Below what the other side acknowledged: invalid too.
        let u = ct.pkt(R, seg(RST, S, 0, 0, 0));
        assert!(u.invalid);
        assert_eq!(ct.state(), TcpState::Established);
        let u = ct.pkt(R, seg(RST, S + 1, 0, 0, 0));
        assert!(!u.invalid);
        assert_eq!(ct.state(), TcpState::Close);
        assert_eq!(u.timeout, Some(TimeoutKind::Tcp(TcpState::Close)));
    }

    // In the window but not at the exact sequence number: the state stays
    // (the peer answers with a challenge ACK), with the unacknowledged
    // timeout.
    #[test]
    fn rst_in_window_not_exact_keeps_state() {
        let mut ct = established();
        let u = ct.pkt(R, seg(RST, S + 500, 0, 0, 0));
        assert!(!u.invalid);
        assert_eq!(ct.state(), TcpState::Established);
        assert_eq!(u.timeout, Some(TimeoutKind::TcpUnacked));
        // With tcp_ignore_invalid_rst, a RST below maxack is not invalid.
        let mut ct = established();
        ct.cfg.ignore_invalid_rst = true;
        assert!(!ct.pkt(R, seg(RST, S - 10, 0, 0, 0)).invalid);
    }

    // Data beyond the receiver's window, or an ACK of data never sent:
    // invalid, not applied; with tcp_be_liberal, accepted.
    #[test]
    fn data_out_of_window() {
        let mut ct = established();
        let w0 = ct.w;
        let u = ct.pkt(O, seg(ACK | PSH, C + 1 + 5000, S + 1, 1000, 100));
        assert!(u.invalid);
        assert_eq!(ct.w, w0);
        let u = ct.pkt(O, seg(ACK, C + 1, S + 1 + 5000, 1000, 0));
        assert!(u.invalid);
        // Old data (below the receiver's window): ignored, not invalid.
        let u = ct.pkt(O, seg(ACK | PSH, C + 1 - 3000, S + 1, 1000, 10));
        assert!(!u.invalid);
        assert_eq!(u.timeout, None);
        let mut ct = established();
        ct.cfg.be_liberal = true;
        assert!(
            !ct.pkt(O, seg(ACK | PSH, C + 1 + 5000, S + 1, 1000, 100))
                .invalid
        );
    }

    // RFC 1323 scaling: only when both SYNs carry the option.
    #[test]
    fn window_scaling() {
        let open = |scale: bool| {
            let syn = seg(SYN, C, 0, 1000, 0);
            let synack = seg(SYN | ACK, S, C + 1, 1000, 0);
            let (syn, synack) = if scale {
                (with_wscale(syn, 7), with_wscale(synack, 7))
            } else {
                (syn, with_wscale(synack, 7))
            };
            let mut ct = Ct::new(syn);
            ct.pkt(R, synack);
            ct.pkt(O, seg(ACK, C + 1, S + 1, 1000, 0));
            // The server's window, scaled: 1000 << 7 = 128000 bytes.
            ct.pkt(R, seg(ACK, S + 1, C + 1, 1000, 0));
            ct
        };
        let far = seg(ACK | PSH, C + 1 + 50_000, S + 1, 1000, 100);
        assert!(!open(true).pkt(O, far).invalid);
        assert!(open(false).pkt(O, far).invalid);
    }

    // tcp_max_retrans (3) identical segments: the retrans timeout.
    #[test]
    fn retransmissions_shorten_timeout() {
        let mut ct = established();
        // Acknowledge everything first so that only retransmission counts.
        let same = seg(ACK, C + 1, S + 1, 1000, 0);
        let mut kinds = [None; 5];
        for k in kinds.iter_mut() {
            *k = ct.pkt(O, same).timeout;
        }
        let est = Some(TimeoutKind::Tcp(TcpState::Established));
        let re = Some(TimeoutKind::TcpRetrans);
        // The handshake's last ACK was this segment's first sending.
        assert_eq!(kinds, [est, est, re, re, re]);
    }

    // A zero window: the retrans timeout.
    #[test]
    fn zero_window() {
        let mut ct = established();
        let u = ct.pkt(R, seg(ACK, S + 1, C + 1, 0, 0));
        assert_eq!(u.timeout, Some(TimeoutKind::TcpRetrans));
    }

    #[test]
    fn invalid_transitions_keep_state() {
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        let st = ct.st;
        // SYN/ACK from the originator is invalid in SYN_SENT.
        let u = ct.pkt(O, seg(SYN | ACK, C, 0, 1000, 0));
        assert!(u.invalid);
        assert_eq!(u.status, st);
    }

    // nf_conntrack_in() sets SEEN_REPLY for every reply-direction packet
    // the protocol accepts, ignored ones included (a server's ACK in
    // SYN_SENT, found by nfct_diff.sh); the state and timeout stay.
    #[test]
    fn ignored_reply_is_seen() {
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        let u = ct.pkt(R, seg(ACK, S, C + 1, 1000, 0));
        assert_eq!((u.invalid, u.timeout), (false, None));
        assert_eq!(ct.state(), TcpState::SynSent);
        assert!(ct.st & status::SEEN_REPLY != 0);
        // An invalid one does not count.
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        assert!(ct.pkt(R, seg(FIN | ACK, S, C + 1, 1000, 0)).invalid);
        assert!(ct.st & status::SEEN_REPLY == 0);
    }

    #[test]
    fn syn_retransmit_does_not_refresh() {
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        let u = ct.pkt(O, seg(SYN, C, 0, 1000, 0));
        assert_eq!(ct.state(), TcpState::SynSent);
        assert_eq!(u.timeout, None);
        assert_eq!(u.action, Action::Keep);
    }

    // Mid-stream pickup (tcp_loose): ESTABLISHED, liberal, capped to the
    // unacknowledged timeout until answered; the answer itself is still
    // capped (nf_conntrack sets SEEN_REPLY after the protocol handler), the
    // next packet assures. With tcp_loose=0 no pickup.
    #[test]
    fn pickup_unacked_until_answered() {
        // 300 s, as TcpUnacked or TcpRetrans (equal by default: the ACK
        // check fails for the unseen side and is waived for a liberal
        // pickup before the window data is noted, so nf_conntrack's
        // `last_win` stays 0 too).
        let short = |u: Option<TimeoutKind>| u.map(secs) == Some(DEFAULT_TIMEOUTS.tcp_unack);
        let (st, w, k) = tcp_first(&seg(ACK, C, S, 1000, 0), &DEFAULT_TCP_CFG, secs).unwrap();
        assert_eq!(state(st), TcpState::Established);
        assert!(short(Some(k)));
        assert!(w.seen[0].flags & tcpf::BE_LIBERAL != 0);
        let mut ct = Ct::new(seg(ACK, C, S, 1000, 0));
        let u = ct.pkt(O, seg(ACK, C, S, 1000, 0));
        assert!(short(u.timeout));
        let u = ct.pkt(R, seg(ACK, S, C, 1000, 0));
        assert!(!u.invalid);
        assert!(short(u.timeout));
        assert!(ct.st & status::SEEN_REPLY != 0);
        assert!(ct.st & status::ASSURED == 0);
        let u = ct.pkt(O, seg(ACK, C, S, 1000, 0));
        assert!(ct.st & status::ASSURED != 0);
        assert_eq!(u.timeout, Some(TimeoutKind::Tcp(TcpState::Established)));
        let strict = TcpCfg {
            loose: false,
            ..DEFAULT_TCP_CFG
        };
        assert!(!tcp_can_create(&seg(ACK, C, S, 1000, 0), &strict));
        assert!(tcp_can_create(&seg(SYN, C, 0, 1000, 0), &strict));
    }

    // "If only reply is a RST ... delete the conntrack immediately."
    #[test]
    fn rst_without_reply_kills() {
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        assert_eq!(
            ct.pkt(R, seg(RST | ACK, 0, C + 1, 0, 0)).action,
            Action::Kill
        );
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        assert_eq!(ct.pkt(O, seg(RST, C + 1, 0, 0, 0)).action, Action::Kill);
        // Once answered, a RST closes (10 s) instead.
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        ct.pkt(R, seg(SYN | ACK, S, C + 1, 1000, 0));
        let u = ct.pkt(O, seg(RST, C + 1, 0, 0, 0));
        assert_eq!(u.action, Action::Keep);
        assert_eq!(ct.state(), TcpState::Close);
    }

    fn closed_by_fin() -> Ct {
        let mut ct = established();
        ct.pkt(O, seg(FIN | ACK, C + 1, S + 1, 1000, 0));
        ct.pkt(R, seg(FIN | ACK, S + 1, C + 2, 1000, 0));
        ct.pkt(O, seg(ACK, C + 2, S + 2, 1000, 0));
        assert_eq!(ct.state(), TcpState::TimeWait);
        ct
    }

    // SYN in TIME_WAIT, from either side, after a FIN close: kill and
    // create anew from the SYN (oriented by its sender).
    #[test]
    fn syn_in_time_wait_reopens() {
        let syn = seg(SYN, C + 100_000, 0, 1000, 0);
        assert_eq!(closed_by_fin().pkt(O, syn).action, Action::Reopen);
        assert_eq!(closed_by_fin().pkt(R, syn).action, Action::Reopen);
    }

    // SYN in CLOSE after a RST: reopens when the RST came from the SYN's
    // side, else ignored (the entry stays, untouched).
    #[test]
    fn syn_in_close_after_rst() {
        let mut by_orig = established();
        by_orig.pkt(O, seg(RST, C + 1, 0, 0, 0));
        assert_eq!(by_orig.state(), TcpState::Close);
        let syn = seg(SYN, C + 100_000, 0, 1000, 0);
        assert_eq!(by_orig.pkt(O, syn).action, Action::Reopen);
        let mut by_reply = established();
        by_reply.pkt(R, seg(RST, S + 1, 0, 0, 0));
        assert_eq!(by_reply.state(), TcpState::Close);
        let u = by_reply.pkt(O, syn);
        assert_eq!(u.action, Action::Keep);
        assert_eq!(u.timeout, None);
        assert_eq!(by_reply.state(), TcpState::Close);
    }

    // A SYN ignored in ESTABLISHED (we may be out of sync), then the
    // server's SYN/ACK acknowledging it: resync to SYN_RECV.
    #[test]
    fn ignored_syn_then_synack_resyncs() {
        let mut ct = established();
        let u = ct.pkt(O, seg(SYN, 90_000, 0, 1000, 0));
        assert_eq!((u.invalid, u.timeout), (false, None));
        assert_eq!(ct.state(), TcpState::Established);
        let u = ct.pkt(R, seg(SYN | ACK, 70_000, 90_001, 1000, 0));
        assert!(!u.invalid);
        assert_eq!(ct.state(), TcpState::SynRecv);
        assert!(!ct.pkt(O, seg(ACK, 90_001, 70_001, 1000, 0)).invalid);
        assert_eq!(ct.state(), TcpState::Established);
    }

    // Simultaneous open: SYN both ways, then SYN/ACKs and an ACK.
    #[test]
    fn simultaneous_open() {
        let mut ct = Ct::new(seg(SYN, C, 0, 1000, 0));
        ct.pkt(R, seg(SYN, S, 0, 1000, 0));
        assert_eq!(ct.state(), TcpState::SynSent2);
        ct.pkt(O, seg(SYN | ACK, C, S + 1, 1000, 0));
        assert_eq!(ct.state(), TcpState::SynRecv);
        assert!(!ct.pkt(R, seg(ACK, S + 1, C + 1, 1000, 0)).invalid);
        assert_eq!(ct.state(), TcpState::Established);
    }

    #[test]
    fn window_packs() {
        let mut ct = established();
        ct.pkt(O, seg(ACK | PSH, C + 1, S + 1, 1000, 100));
        ct.w.last_flags = 0xc4;
        ct.w.retrans = 200;
        assert_eq!(TcpWin::unpack(&ct.w.pack()), ct.w);
    }

    /// An IPv4 tuple of protocol `l4`, addresses and ports zero.
    fn ipv4(l4: u8) -> Tuple {
        Tuple {
            l3: NFPROTO_IPV4,
            l4,
            ..Tuple::default()
        }
    }

    // `update()` is for everything but TCP: a TCP tuple is invalid there,
    // not a generic protocol that two packets would assure.
    #[test]
    fn update_refuses_tcp() {
        let t = ipv4(IPPROTO_TCP);
        let st = status::SEEN_REPLY;
        let u = update(&t, st, Dir::Original, 1000);
        assert!(u.invalid);
        assert_eq!(u.status, st);
        assert_eq!(u.timeout, None);
    }

    // nf_conntrack's generic_packet() never sets ASSURED: traffic both
    // ways leaves an unknown protocol (or UDP-Lite, generic in 7.3) for
    // early drop, with the generic timeout; SCTP has its own state machine
    // (refused here, as TCP).
    #[test]
    fn generic_never_assured() {
        for l4 in [136u8, 253] {
            let t = ipv4(l4);
            let st = initial_status(&t, 0, 64);
            assert_eq!(st, 0);
            let u = update(&t, st, Dir::Reply, 1);
            assert_eq!(u.status, status::SEEN_REPLY);
            let u = update(&t, u.status, Dir::Original, 1000);
            assert_eq!(u.status, status::SEEN_REPLY, "protocol {l4}");
            assert_eq!(u.timeout, Some(TimeoutKind::Generic));
        }
        let t = ipv4(IPPROTO_SCTP);
        let u = update(&t, status::SEEN_REPLY, Dir::Original, 1);
        assert!(u.invalid);
    }

    // The stream stamp across a 32-bit jiffies wrap (INITIAL_JIFFIES: 5
    // minutes after boot; nat.sh failed there once): a reply 1 s after
    // the first packet is not a stream, one 2.1 s after is, whatever HZ
    // and wherever the wrap falls; a tick is at most 1/32 s.
    #[test]
    fn stream_stamp_across_jiffies_wrap() {
        let t = ipv4(IPPROTO_UDP);
        for hz in [100u32, 250, 300, 1000] {
            let sh = tick_shift(hz);
            assert!((1u32 << sh) * 32 <= hz.max(32), "hz {hz}");
            for before_wrap in [1, hz / 2, hz, 3 * hz / 2, 2 * hz] {
                let j0 = 0u32.wrapping_sub(before_wrap);
                let at = |ms: u32| tick_of(j0.wrapping_add(ms * hz / 1000), sh);
                let st = initial_status(&t, at(0), ticks_2s(hz, sh));
                let st = update(&t, st, Dir::Reply, at(100)).status;
                let early = update(&t, st, Dir::Original, at(1000)).status;
                assert!(early & status::ASSURED == 0, "hz {hz} -{before_wrap}: 1 s");
                let edge = update(&t, st, Dir::Original, at(2000)).status;
                assert!(edge & status::ASSURED == 0, "hz {hz} -{before_wrap}: 2 s");
                let late = update(&t, st, Dir::Original, at(2100)).status;
                assert!(late & status::ASSURED != 0, "hz {hz} -{before_wrap}: 2.1 s");
            }
        }
    }

    // nf_conntrack_udp_packet(): ASSURED and the stream timeout only for
    // traffic both ways still active more than 2 s after the first packet.
    #[test]
    fn udp_stream_after_two_seconds() {
        let t = ipv4(IPPROTO_UDP);
        let t0: Tick = 65500; // wraps during the test
        let two = ticks_2s(250, tick_shift(250));
        let st = initial_status(&t, t0, two);
        let u = update(&t, st, Dir::Reply, t0.wrapping_add(1));
        assert_eq!(u.timeout, Some(TimeoutKind::UdpUnreplied));
        let u = update(&t, u.status, Dir::Original, t0.wrapping_add(10));
        assert!(u.status & status::ASSURED == 0);
        assert_eq!(u.timeout, Some(TimeoutKind::UdpUnreplied));
        let late = t0.wrapping_add(two + 1);
        let u = update(&t, u.status, Dir::Reply, late);
        assert!(u.status & status::ASSURED != 0);
        assert_eq!(u.timeout, Some(TimeoutKind::UdpStream));
        // One way only, however long: never assured.
        let u = update(&t, st, Dir::Original, late);
        assert!(u.status & status::ASSURED == 0);
        assert_eq!(u.timeout, Some(TimeoutKind::UdpUnreplied));
    }
}
