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
}

/// Which timeout applies; indexes [`Timeouts`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimeoutKind {
    /// TCP, by state.
    Tcp(TcpState),
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
    udp: 30,
    udp_stream: 120,
    icmp: 30,
    generic: 600,
};

/// Result of applying one packet to an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Update {
    /// The new status word.
    pub status: u32,
    /// The timeout to arm, if the packet refreshes it.
    pub timeout: Option<TimeoutKind>,
    /// The packet does not fit the connection state (counted as invalid).
    pub invalid: bool,
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

/// The status word of a new entry created by a packet with this tuple.
pub fn initial_status(t: &Tuple, flags: u8) -> u32 {
    if t.l4 == IPPROTO_TCP {
        match tcp_transition(Dir::Original, flags, TcpState::None) {
            Tr::To(s) => s as u32,
            _ => TcpState::SynSent as u32,
        }
    } else {
        0
    }
}

/// The timeout that applies to an entry in this status.
pub fn timeout_kind(l4: u8, is_icmp: bool, st: u32) -> TimeoutKind {
    match l4 {
        IPPROTO_TCP => TimeoutKind::Tcp(TcpState::from_bits(st & status::TCP_STATE_MASK)),
        IPPROTO_UDP | IPPROTO_UDPLITE => {
            if st & status::SEEN_REPLY != 0 {
                TimeoutKind::UdpStream
            } else {
                TimeoutKind::UdpUnreplied
            }
        }
        _ if is_icmp => TimeoutKind::Icmp,
        _ => TimeoutKind::Generic,
    }
}

/// Applies a packet in direction `dir` to an entry whose status is `st`.
pub fn update(t: &Tuple, st: u32, dir: Dir, flags: u8) -> Update {
    let mut new = st;
    if dir == Dir::Reply {
        new |= status::SEEN_REPLY;
    }
    if t.l4 != IPPROTO_TCP {
        // Traffic both ways makes the entry assured (ICMP never is).
        if dir == Dir::Original && st & status::SEEN_REPLY != 0 && !t.is_icmp() {
            new |= status::ASSURED;
        }
        return Update {
            status: new,
            timeout: Some(timeout_kind(t.l4, t.is_icmp(), new)),
            invalid: false,
        };
    }
    let from = TcpState::from_bits(st & status::TCP_STATE_MASK);
    match tcp_transition(dir, flags, from) {
        Tr::To(to) => {
            new = (new & !status::TCP_STATE_MASK) | to as u32;
            if to == TcpState::SynSent && dir == Dir::Original && from != TcpState::SynSent {
                // Port reuse after TIME_WAIT/CLOSE: a new connection.
                new &= !(status::SEEN_REPLY | status::ASSURED);
            }
            // Handshake completed, or an established connection seen
            // both ways: assured.
            if to == TcpState::Established
                && (from == TcpState::SynRecv || new & status::SEEN_REPLY != 0)
            {
                new |= status::ASSURED;
            }
            Update {
                status: new,
                timeout: Some(TimeoutKind::Tcp(to)),
                invalid: false,
            }
        }
        Tr::Ignore => Update {
            status: new,
            timeout: None,
            invalid: false,
        },
        Tr::Invalid => Update {
            status: st,
            timeout: None,
            invalid: true,
        },
    }
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
        let mut st = initial_status(&t, SYN);
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
            let u = update(&t, st, dir, f);
            assert!(!u.invalid, "{dir:?} {f:#x}");
            st = u.status;
            assert_eq!(state(st), want);
            assert_eq!(u.timeout, Some(TimeoutKind::Tcp(want)));
        }
        assert!(st & status::ASSURED != 0);
        assert!(st & status::SEEN_REPLY != 0);
    }

    #[test]
    fn rst_closes() {
        let t = tcp();
        let st = initial_status(&t, SYN);
        let u = update(&t, st, Dir::Reply, RST | ACK);
        assert_eq!(state(u.status), TcpState::Close);
        assert_eq!(u.timeout, Some(TimeoutKind::Tcp(TcpState::Close)));
        assert!(u.status & status::ASSURED == 0);
    }

    #[test]
    fn invalid_transitions_keep_state() {
        let t = tcp();
        let st = initial_status(&t, SYN);
        // SYN/ACK from the originator is invalid in SYN_SENT.
        let u = update(&t, st, Dir::Original, SYN | ACK);
        assert!(u.invalid);
        assert_eq!(u.status, st);
    }

    #[test]
    fn reuse_after_time_wait() {
        let t = tcp();
        let st = status::ASSURED | status::SEEN_REPLY | TcpState::TimeWait as u32;
        let u = update(&t, st, Dir::Original, SYN);
        assert_eq!(state(u.status), TcpState::SynSent);
        assert_eq!(u.status & (status::ASSURED | status::SEEN_REPLY), 0);
    }

    #[test]
    fn udp_reply_and_assured() {
        let t = Tuple {
            l3: NFPROTO_IPV4,
            l4: IPPROTO_UDP,
            ..Tuple::default()
        };
        let st = initial_status(&t, 0);
        assert_eq!(timeout_kind(t.l4, false, st), TimeoutKind::UdpUnreplied);
        let u = update(&t, st, Dir::Reply, 0);
        assert_eq!(u.timeout, Some(TimeoutKind::UdpStream));
        assert!(u.status & status::ASSURED == 0);
        let u = update(&t, u.status, Dir::Original, 0);
        assert!(u.status & status::ASSURED != 0);
    }

    #[test]
    fn mid_stream_pickup() {
        let t = tcp();
        assert_eq!(state(initial_status(&t, ACK)), TcpState::Established);
    }
}
