// SPDX-License-Identifier: GPL-2.0

//! Per-protocol connection state: the TCP state machine, the status word
//! kept in each entry, and which timeout applies after a packet.
//!
//! Pure logic (no `kernel` crate), unit tested on the host. The kernel side
//! stores the status word in an atomic and applies [`update`] with a
//! compare-and-exchange loop, so no per-entry lock is needed.

use crate::tuple::{tcp_flags, Tuple, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE};

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
    /// Mask of the TCP state number.
    pub const TCP_STATE_MASK: u32 = 0xf;
    /// A packet in the reply direction was seen.
    pub const SEEN_REPLY: u32 = 1 << 4;
    /// Traffic both ways: not a candidate for early drop.
    pub const ASSURED: u32 = 1 << 5;
    /// TCP: a FIN moved the connection to FIN_WAIT (nf_conntrack's
    /// `IP_CT_TCP_FLAG_CLOSE_INIT`).
    pub const CLOSE_INIT: u32 = 1 << 6;
    /// TCP: the last segment applied or ignored was a RST...
    pub const LAST_RST: u32 = 1 << 7;
    /// ...and the last segment came in the reply direction (nf_conntrack's
    /// `last_index == TCP_RST_SET`, `last_dir`).
    pub const LAST_REPLY: u32 = 1 << 8;
    /// UDP/UDP-Lite: the [`super::Tick`] two seconds after the first packet
    /// (nf_conntrack's `stream_ts`), in the top 16 bits.
    pub const STREAM_SHIFT: u32 = 16;
}

/// Whether tick `a` is after `b` (wrapping, as `time_after`).
fn tick_after(a: Tick, b: Tick) -> bool {
    (b.wrapping_sub(a) as i16) < 0
}

/// Records the segment's class and direction, as nf_conntrack's
/// `last_index`/`last_dir` (only what the reopen rule reads).
fn record_last(st: u32, dir: Dir, flags: u8) -> u32 {
    let mut st = st & !(status::LAST_RST | status::LAST_REPLY);
    if flags & tcp_flags::RST != 0 {
        st |= status::LAST_RST;
    }
    if dir == Dir::Reply {
        st |= status::LAST_REPLY;
    }
    st
}

/// Which timeout applies; indexes [`Timeouts`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimeoutKind {
    /// TCP, by state.
    Tcp(TcpState),
    /// TCP ESTABLISHED not (yet) answered: the smaller of the ESTABLISHED
    /// and the unacknowledged timeout (nf_conntrack's `TCP_CONNTRACK_UNACK`
    /// cap for connections picked up mid-stream).
    TcpUnacked,
    /// UDP/UDP-Lite without a reply.
    UdpUnreplied,
    /// UDP/UDP-Lite with traffic both ways.
    UdpStream,
    /// ICMP/ICMPv6 echo.
    Icmp,
    /// Any other protocol.
    Generic,
}

/// Timeout values in seconds (the sysctl table holds the live ones).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Per TCP state.
    pub tcp: [u32; TCP_STATES],
    /// TCP unacknowledged data or unanswered pickup.
    pub tcp_unack: u32,
    /// UDP unreplied.
    pub udp: u32,
    /// UDP stream.
    pub udp_stream: u32,
    /// ICMP.
    pub icmp: u32,
    /// Generic.
    pub generic: u32,
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
    udp: 30,
    udp_stream: 120,
    icmp: 30,
    generic: 600,
};

/// A coarse clock for per-entry timestamps kept in the status word: about
/// 32 ticks a second, wrapping (compared as `time_after` does).
pub type Tick = u16;

/// Ticks per second of [`Tick`].
pub const TICKS_PER_SEC: u32 = 32;

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
    /// What happens to the entry.
    pub action: Action,
}

#[derive(Clone, Copy)]
enum Tr {
    To(TcpState),
    Ignore,
    Invalid,
}

/// Packet classes of the TCP table.
fn tcp_index(flags: u8) -> usize {
    use tcp_flags::*;
    if flags & RST != 0 {
        4
    } else if flags & SYN != 0 {
        if flags & ACK != 0 {
            1
        } else {
            0
        }
    } else if flags & FIN != 0 {
        2
    } else if flags & ACK != 0 {
        3
    } else {
        5
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
    table[tcp_index(flags)][from as usize]
}

/// The status word of a new entry created by a packet with this tuple at
/// tick `now`.
pub fn initial_status(t: &Tuple, flags: u8, now: Tick) -> u32 {
    match t.l4 {
        IPPROTO_TCP => {
            let s = match tcp_transition(Dir::Original, flags, TcpState::None) {
                Tr::To(s) => s,
                _ => TcpState::SynSent,
            };
            record_last(s as u32, Dir::Original, flags)
        }
        IPPROTO_UDP | IPPROTO_UDPLITE => {
            let stream = now.wrapping_add((2 * TICKS_PER_SEC) as Tick);
            u32::from(stream) << status::STREAM_SHIFT
        }
        _ => 0,
    }
}

/// The timeout that applies to an entry in this status.
///
/// A function of the status alone, so that a CPU that lost a race on the
/// status can re-arm the timeout of the status in place (see the tracker's
/// `update`).
pub fn timeout_kind(l4: u8, is_icmp: bool, st: u32) -> TimeoutKind {
    match l4 {
        IPPROTO_TCP => match TcpState::from_bits(st & status::TCP_STATE_MASK) {
            // Picked up mid-stream and not answered yet, or answered by
            // this very packet: nf_conntrack caps ESTABLISHED to the
            // unacknowledged timeout until the next packet assures it.
            TcpState::Established if st & status::ASSURED == 0 => TimeoutKind::TcpUnacked,
            s => TimeoutKind::Tcp(s),
        },
        // Replied but within 2 s of the first packet: still the short
        // timeout (DNS-style request/reply), as nf_conntrack.
        IPPROTO_UDP | IPPROTO_UDPLITE => {
            if st & status::ASSURED != 0 {
                TimeoutKind::UdpStream
            } else {
                TimeoutKind::UdpUnreplied
            }
        }
        _ if is_icmp => TimeoutKind::Icmp,
        _ => TimeoutKind::Generic,
    }
}

fn keep(status: u32, timeout: Option<TimeoutKind>) -> Update {
    Update {
        status,
        timeout,
        invalid: false,
        action: Action::Keep,
    }
}

fn act(status: u32, action: Action) -> Update {
    Update {
        status,
        timeout: None,
        invalid: false,
        action,
    }
}

/// Applies a packet in direction `dir`, at tick `now`, to an entry whose
/// status is `st`. Follows nf_conntrack_{tcp,udp}_packet() of 7.3, with
/// one ordering detail kept: nf_conntrack sets SEEN_REPLY after the
/// protocol handler, so the rules below test the status *before* this
/// packet.
pub fn update(t: &Tuple, st: u32, dir: Dir, flags: u8, now: Tick) -> Update {
    let replied = st & status::SEEN_REPLY != 0;
    let mut new = st;
    if dir == Dir::Reply {
        new |= status::SEEN_REPLY;
    }
    match t.l4 {
        IPPROTO_TCP => return tcp_update(st, new, dir, flags),
        IPPROTO_UDP | IPPROTO_UDPLITE => {
            let stream = (st >> status::STREAM_SHIFT) as Tick;
            if replied && tick_after(now, stream) {
                new |= status::ASSURED;
            }
        }
        // Traffic both ways makes the entry assured (ICMP never is).
        _ if !t.is_icmp() && dir == Dir::Original && replied => new |= status::ASSURED,
        _ => {}
    }
    keep(new, Some(timeout_kind(t.l4, t.is_icmp(), new)))
}

/// The TCP part of [`update`]; `new` is `st` with SEEN_REPLY applied.
fn tcp_update(st: u32, mut new: u32, dir: Dir, flags: u8) -> Update {
    use tcp_flags::*;
    let replied = st & status::SEEN_REPLY != 0;
    let from = TcpState::from_bits(st & status::TCP_STATE_MASK);
    let to = match tcp_transition(dir, flags, from) {
        // SYN on a closed connection (TIME_WAIT, CLOSE): a new connection
        // when the old one was closed by FIN, or reset from the SYN's
        // side; otherwise the SYN may belong to a connection we are out
        // of sync with, and is ignored.
        Tr::To(TcpState::SynSent) if matches!(from, TcpState::TimeWait | TcpState::Close) => {
            let reset_here =
                st & status::LAST_RST != 0 && (st & status::LAST_REPLY != 0) == (dir == Dir::Reply);
            if st & status::CLOSE_INIT != 0 || reset_here {
                return act(st, Action::Reopen);
            }
            return keep(record_last(new, dir, flags), None);
        }
        Tr::To(to) => to,
        Tr::Ignore => return keep(record_last(new, dir, flags), None),
        Tr::Invalid => {
            return Update {
                status: st,
                timeout: None,
                invalid: true,
                action: Action::Keep,
            }
        }
    };
    new = record_last((new & !status::TCP_STATE_MASK) | to as u32, dir, flags);
    if to == TcpState::FinWait && from != TcpState::FinWait {
        new |= status::CLOSE_INIT;
    }
    if !replied {
        // "If only reply is a RST ... delete the conntrack immediately."
        if flags & RST != 0 {
            return act(st, Action::Kill);
        }
        // "do not renew timeout on SYN retransmit": else port reuse keeps
        // an unanswered entry alive forever.
        if flags & (SYN | ACK) == SYN && from == TcpState::SynSent {
            return keep(new, None);
        }
    } else if new & status::ASSURED == 0
        && matches!(from, TcpState::SynRecv | TcpState::Established)
        && to == TcpState::Established
    {
        // A valid ACK after SYN_RECV, or an answered pickup.
        new |= status::ASSURED;
    }
    keep(new, Some(timeout_kind(IPPROTO_TCP, false, new)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::{tcp_flags::*, NFPROTO_IPV4};

    fn tcp() -> Tuple {
        Tuple {
            l3: NFPROTO_IPV4,
            l4: IPPROTO_TCP,
            ..Tuple::default()
        }
    }

    fn state(st: u32) -> TcpState {
        TcpState::from_bits(st & status::TCP_STATE_MASK)
    }

    #[test]
    fn handshake_data_fin() {
        let t = tcp();
        let mut st = initial_status(&t, SYN, 0);
        assert_eq!(state(st), TcpState::SynSent);
        let steps = [
            (Dir::Reply, SYN | ACK, TcpState::SynRecv),
            (Dir::Original, ACK, TcpState::Established),
            (Dir::Original, ACK | PSH, TcpState::Established),
            (Dir::Original, FIN | ACK, TcpState::FinWait),
            (Dir::Reply, ACK, TcpState::CloseWait),
            (Dir::Reply, FIN | ACK, TcpState::LastAck),
            (Dir::Original, ACK, TcpState::TimeWait),
        ];
        for (dir, f, want) in steps {
            let u = update(&t, st, dir, f, 0);
            assert!(!u.invalid, "{dir:?} {f:#x}");
            st = u.status;
            assert_eq!(state(st), want);
            assert_eq!(u.timeout, Some(TimeoutKind::Tcp(want)));
        }
        assert!(st & status::ASSURED != 0);
        assert!(st & status::SEEN_REPLY != 0);
    }

    #[test]
    fn invalid_transitions_keep_state() {
        let t = tcp();
        let st = initial_status(&t, SYN, 0);
        // SYN/ACK from the originator is invalid in SYN_SENT.
        let u = update(&t, st, Dir::Original, SYN | ACK, 0);
        assert!(u.invalid);
        assert_eq!(u.status, st);
    }

    #[test]
    fn syn_retransmit_does_not_refresh() {
        let t = tcp();
        let st = initial_status(&t, SYN, 0);
        let u = update(&t, st, Dir::Original, SYN, 0);
        assert_eq!(state(u.status), TcpState::SynSent);
        assert_eq!(u.timeout, None);
        assert_eq!(u.action, Action::Keep);
    }

    // Mid-stream pickup: ESTABLISHED, capped to the unacknowledged timeout
    // until answered; the answer itself is still capped (nf_conntrack sets
    // SEEN_REPLY after the protocol handler), the next packet assures.
    #[test]
    fn pickup_unacked_until_answered() {
        let t = tcp();
        let st = initial_status(&t, ACK, 0);
        assert_eq!(state(st), TcpState::Established);
        assert_eq!(timeout_kind(t.l4, false, st), TimeoutKind::TcpUnacked);
        let u = update(&t, st, Dir::Original, ACK, 0);
        assert_eq!(u.timeout, Some(TimeoutKind::TcpUnacked));
        let u = update(&t, u.status, Dir::Reply, ACK, 0);
        assert_eq!(u.timeout, Some(TimeoutKind::TcpUnacked));
        assert!(u.status & status::SEEN_REPLY != 0);
        assert!(u.status & status::ASSURED == 0);
        let u = update(&t, u.status, Dir::Original, ACK, 0);
        assert!(u.status & status::ASSURED != 0);
        assert_eq!(u.timeout, Some(TimeoutKind::Tcp(TcpState::Established)));
    }

    // "If only reply is a RST ... delete the conntrack immediately."
    #[test]
    fn rst_without_reply_kills() {
        let t = tcp();
        let st = initial_status(&t, SYN, 0);
        assert_eq!(
            update(&t, st, Dir::Reply, RST | ACK, 0).action,
            Action::Kill
        );
        assert_eq!(update(&t, st, Dir::Original, RST, 0).action, Action::Kill);
        // Once answered, a RST closes (10 s) instead.
        let st = update(&t, st, Dir::Reply, SYN | ACK, 0).status;
        let u = update(&t, st, Dir::Original, RST, 0);
        assert_eq!(u.action, Action::Keep);
        assert_eq!(state(u.status), TcpState::Close);
    }

    fn closed_by_fin() -> (Tuple, u32) {
        let t = tcp();
        let mut st = initial_status(&t, SYN, 0);
        for (dir, f) in [
            (Dir::Reply, SYN | ACK),
            (Dir::Original, ACK),
            (Dir::Original, FIN | ACK),
            (Dir::Reply, FIN | ACK),
            (Dir::Original, ACK),
        ] {
            st = update(&t, st, dir, f, 0).status;
        }
        assert_eq!(state(st), TcpState::TimeWait);
        (t, st)
    }

    // SYN in TIME_WAIT, from either side, after a FIN close: kill and
    // create anew from the SYN (oriented by its sender).
    #[test]
    fn syn_in_time_wait_reopens() {
        let (t, st) = closed_by_fin();
        assert_eq!(update(&t, st, Dir::Original, SYN, 0).action, Action::Reopen);
        assert_eq!(update(&t, st, Dir::Reply, SYN, 0).action, Action::Reopen);
    }

    // SYN in CLOSE after a RST: reopens when the RST came from the SYN's
    // side, else ignored (the entry stays, untouched).
    #[test]
    fn syn_in_close_after_rst() {
        let t = tcp();
        let mut st = initial_status(&t, SYN, 0);
        st = update(&t, st, Dir::Reply, SYN | ACK, 0).status;
        st = update(&t, st, Dir::Original, ACK, 0).status;
        let by_orig = update(&t, st, Dir::Original, RST, 0).status;
        assert_eq!(state(by_orig), TcpState::Close);
        assert_eq!(
            update(&t, by_orig, Dir::Original, SYN, 0).action,
            Action::Reopen
        );
        let by_reply = update(&t, st, Dir::Reply, RST, 0).status;
        let u = update(&t, by_reply, Dir::Original, SYN, 0);
        assert_eq!(u.action, Action::Keep);
        assert_eq!(u.timeout, None);
        assert_eq!(state(u.status), TcpState::Close);
    }

    // nf_conntrack_udp_packet(): ASSURED and the stream timeout only for
    // traffic both ways still active more than 2 s after the first packet.
    #[test]
    fn udp_stream_after_two_seconds() {
        let t = Tuple {
            l3: NFPROTO_IPV4,
            l4: IPPROTO_UDP,
            ..Tuple::default()
        };
        let t0: Tick = 65500; // wraps during the test
        let st = initial_status(&t, 0, t0);
        let u = update(&t, st, Dir::Reply, 0, t0.wrapping_add(1));
        assert_eq!(u.timeout, Some(TimeoutKind::UdpUnreplied));
        let u = update(&t, u.status, Dir::Original, 0, t0.wrapping_add(10));
        assert!(u.status & status::ASSURED == 0);
        assert_eq!(u.timeout, Some(TimeoutKind::UdpUnreplied));
        let late = t0.wrapping_add(2 * TICKS_PER_SEC as Tick + 1);
        let u = update(&t, u.status, Dir::Reply, 0, late);
        assert!(u.status & status::ASSURED != 0);
        assert_eq!(u.timeout, Some(TimeoutKind::UdpStream));
        // One way only, however long: never assured.
        let u = update(&t, st, Dir::Original, 0, late);
        assert!(u.status & status::ASSURED == 0);
        assert_eq!(u.timeout, Some(TimeoutKind::UdpUnreplied));
    }

    #[test]
    fn mid_stream_pickup() {
        let t = tcp();
        assert_eq!(state(initial_status(&t, ACK, 0)), TcpState::Established);
    }
}
