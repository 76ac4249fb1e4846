// SPDX-License-Identifier: GPL-2.0

//! SCTP association tracking: nf_conntrack_proto_sctp.c of 7.3, chunk by
//! chunk.
//!
//! Pure logic (no `kernel` crate), unit tested on the host. The tracker
//! keeps an association's state in the status word's state bits and its
//! [`SctpCt`] (verification tags and flags) in the entry's per-entry words,
//! and applies [`sctp_packet`] under the entry's lock, as nf_conntrack
//! holds `ct->lock`.

use crate::proto::Dir;
use crate::tuple::PacketReader;

/// SCTP association states, numbered as nf_conntrack's `sctp_conntrack`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum SctpState {
    /// Nothing yet.
    None = 0,
    /// INIT seen, or SHUTDOWN_COMPLETE or ABORT.
    Closed = 1,
    /// INIT_ACK seen in reply.
    CookieWait = 2,
    /// COOKIE_ECHO seen.
    CookieEchoed = 3,
    /// COOKIE_ACK seen.
    Established = 4,
    /// SHUTDOWN seen in the original direction.
    ShutdownSent = 5,
    /// SHUTDOWN seen in the reply direction.
    ShutdownRecd = 6,
    /// SHUTDOWN_ACK seen.
    ShutdownAckSent = 7,
    /// HEARTBEAT on a new flow (a secondary path).
    HeartbeatSent = 8,
}

/// Number of SCTP states.
pub const SCTP_STATES: usize = 9;

const ALL: [SctpState; SCTP_STATES] = [
    SctpState::None,
    SctpState::Closed,
    SctpState::CookieWait,
    SctpState::CookieEchoed,
    SctpState::Established,
    SctpState::ShutdownSent,
    SctpState::ShutdownRecd,
    SctpState::ShutdownAckSent,
    SctpState::HeartbeatSent,
];

impl SctpState {
    /// The state from its number (masked to the table).
    pub fn from_bits(v: u32) -> SctpState {
        ALL.get(v as usize).copied().unwrap_or(SctpState::None)
    }

    /// The name printed in `/proc/net/rconntrack`, as nf_conntrack prints it.
    pub fn name(self) -> &'static str {
        match self {
            SctpState::None => "NONE",
            SctpState::Closed => "CLOSED",
            SctpState::CookieWait => "COOKIE_WAIT",
            SctpState::CookieEchoed => "COOKIE_ECHOED",
            SctpState::Established => "ESTABLISHED",
            SctpState::ShutdownSent => "SHUTDOWN_SENT",
            SctpState::ShutdownRecd => "SHUTDOWN_RECD",
            SctpState::ShutdownAckSent => "SHUTDOWN_ACK_SENT",
            SctpState::HeartbeatSent => "HEARTBEAT_SENT",
        }
    }
}

/// Chunk types (RFC 9260) that the tracker reads.
pub mod chunk {
    /// DATA.
    pub const DATA: u8 = 0;
    /// INIT.
    pub const INIT: u8 = 1;
    /// INIT ACK.
    pub const INIT_ACK: u8 = 2;
    /// HEARTBEAT.
    pub const HEARTBEAT: u8 = 4;
    /// HEARTBEAT ACK.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// ABORT.
    pub const ABORT: u8 = 6;
    /// SHUTDOWN.
    pub const SHUTDOWN: u8 = 7;
    /// SHUTDOWN ACK.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// ERROR.
    pub const ERROR: u8 = 9;
    /// COOKIE ECHO.
    pub const COOKIE_ECHO: u8 = 10;
    /// COOKIE ACK.
    pub const COOKIE_ACK: u8 = 11;
    /// SHUTDOWN COMPLETE.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
    /// The T flag of ABORT and SHUTDOWN COMPLETE: the tag is the peer's.
    pub const FLAG_T: u8 = 1;
}

const S_NO: u8 = 0;
const S_CL: u8 = 1;
const S_CW: u8 = 2;
const S_CE: u8 = 3;
const S_ES: u8 = 4;
const S_SS: u8 = 5;
const S_SR: u8 = 6;
const S_SA: u8 = 7;
const S_HS: u8 = 8;
/// Invalid transition (nf_conntrack's `sIV`, `SCTP_CONNTRACK_MAX`).
const S_IV: u8 = 9;

/// nf_conntrack's `sctp_conntracks`, cell for cell, indexed by direction,
/// chunk row (as [`row`] numbers them) and state.
const TABLE: [[[u8; SCTP_STATES]; 11]; 2] = [
    [
        // ORIGINAL: sNO   sCL   sCW   sCE   sES   sSS   sSR   sSA   sHS
        [S_CL, S_CL, S_CW, S_CE, S_ES, S_CL, S_CL, S_SA, S_CW], // init
        [S_CL, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_CL], // init_ack
        [S_CL, S_CL, S_CL, S_CL, S_CL, S_CL, S_CL, S_CL, S_CL], // abort
        [S_CL, S_CL, S_CW, S_CE, S_SS, S_SS, S_SR, S_SA, S_CL], // shutdown
        [S_SA, S_CL, S_CW, S_CE, S_ES, S_SA, S_SA, S_SA, S_SA], // shutdown_ack
        [S_CL, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_CL], // error
        [S_CL, S_CL, S_CE, S_CE, S_ES, S_SS, S_SR, S_SA, S_CL], // cookie_echo
        [S_CL, S_CL, S_CW, S_ES, S_ES, S_SS, S_SR, S_SA, S_CL], // cookie_ack
        [S_CL, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_CL, S_CL], // shutdown_comp
        [S_HS, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_HS], // heartbeat
        [S_CL, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_HS], // heartbeat_ack
    ],
    [
        // REPLY:    sNO   sCL   sCW   sCE   sES   sSS   sSR   sSA   sHS
        [S_IV, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_IV], // init
        [S_IV, S_CW, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_IV], // init_ack
        [S_IV, S_CL, S_CL, S_CL, S_CL, S_CL, S_CL, S_CL, S_IV], // abort
        [S_IV, S_CL, S_CW, S_CE, S_SR, S_SS, S_SR, S_SA, S_IV], // shutdown
        [S_IV, S_CL, S_CW, S_CE, S_ES, S_SA, S_SA, S_SA, S_IV], // shutdown_ack
        [S_IV, S_CL, S_CW, S_CL, S_ES, S_SS, S_SR, S_SA, S_IV], // error
        [S_IV, S_CL, S_CE, S_CE, S_ES, S_SS, S_SR, S_SA, S_IV], // cookie_echo
        [S_IV, S_CL, S_CW, S_ES, S_ES, S_SS, S_SR, S_SA, S_IV], // cookie_ack
        [S_IV, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_CL, S_IV], // shutdown_comp
        [S_IV, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_HS], // heartbeat
        [S_IV, S_CL, S_CW, S_CE, S_ES, S_SS, S_SR, S_SA, S_ES], // heartbeat_ack
    ],
];

/// The table row of a chunk type, `None` for chunks that do not change the
/// state (DATA, SACK...).
fn row(ty: u8) -> Option<usize> {
    Some(match ty {
        chunk::INIT => 0,
        chunk::INIT_ACK => 1,
        chunk::ABORT => 2,
        chunk::SHUTDOWN => 3,
        chunk::SHUTDOWN_ACK => 4,
        chunk::ERROR => 5,
        chunk::COOKIE_ECHO => 6,
        chunk::COOKIE_ACK => 7,
        chunk::SHUTDOWN_COMPLETE => 8,
        chunk::HEARTBEAT => 9,
        chunk::HEARTBEAT_ACK => 10,
        _ => return None,
    })
}

/// `sctp_new_state()`: the state after chunk `ty` in direction `dir` from
/// `cur` ([`S_IV`]: invalid).
fn new_state(dir: Dir, cur: u8, ty: u8) -> u8 {
    match row(ty) {
        Some(r) => TABLE
            .get(dir as usize)
            .and_then(|t| t.get(r))
            .and_then(|t| t.get(cur as usize))
            .copied()
            .unwrap_or(S_IV),
        None => cur,
    }
}

/// An association's data besides its state (nf_conntrack's `ip_ct_sctp`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SctpCt {
    /// The state number ([`SctpState`]).
    pub state: u8,
    /// Verification tag each direction's packets carry, as on the wire.
    pub vtag: [u32; 2],
    /// An INIT was seen from each direction.
    pub init: [bool; 2],
    /// A HEARTBEAT carried an unexpected tag (`SCTP_FLAG_HEARTBEAT_VTAG_FAILED`).
    pub hb_failed: bool,
    /// The direction of that HEARTBEAT.
    pub last_dir: u8,
}

/// Words of [`SctpCt::pack`].
pub const SCTP_WORDS: usize = 3;

impl SctpCt {
    /// The data as words (state aside: it lives in the status word).
    pub fn pack(&self) -> [u32; SCTP_WORDS] {
        let flags = u32::from(self.init[0])
            | u32::from(self.init[1]) << 1
            | u32::from(self.hb_failed) << 2
            | u32::from(self.last_dir & 1) << 3;
        [self.vtag[0], self.vtag[1], flags]
    }

    /// The inverse of [`SctpCt::pack`], with state `state`.
    pub fn unpack(w: &[u32; SCTP_WORDS], state: u8) -> SctpCt {
        SctpCt {
            state,
            vtag: [w[0], w[1]],
            init: [w[2] & 1 != 0, w[2] & 2 != 0],
            hb_failed: w[2] & 4 != 0,
            last_dir: ((w[2] >> 3) & 1) as u8,
        }
    }
}

/// One chunk as the state machine reads it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Chunk {
    /// Type.
    pub ty: u8,
    /// Flags.
    pub flags: u8,
    /// For INIT and INIT ACK, the initiate tag, if the chunk holds the
    /// whole fixed part (16 bytes after the chunk header).
    pub init_tag: Option<u32>,
}

/// The chunks of an SCTP packet whose common header is at `off`, read
/// lazily through a [`PacketReader`] (as nf_conntrack's
/// `for_each_sctp_chunk`): to the end of the packet or the first chunk
/// header that is not all there. Bounded: each step advances at least 4
/// bytes.
pub struct Chunks<'r, R: PacketReader> {
    r: &'r R,
    off: usize,
}

// Not derived: that would require `R: Clone`; the walk holds a reference.
impl<R: PacketReader> Clone for Chunks<'_, R> {
    fn clone(&self) -> Self {
        Chunks {
            r: self.r,
            off: self.off,
        }
    }
}

impl<'r, R: PacketReader> Chunks<'r, R> {
    /// The chunks after the 12-byte common header at `l4_off`.
    pub fn new(r: &'r R, l4_off: usize) -> Self {
        Chunks {
            r,
            off: l4_off.saturating_add(12),
        }
    }
}

/// A chunk with its length, for the basic checks.
struct Raw {
    c: Chunk,
    len: u16,
}

impl<R: PacketReader> Chunks<'_, R> {
    fn next_raw(&mut self) -> Option<Raw> {
        if self.off >= self.r.len() {
            return None;
        }
        let mut h = [0u8; 4];
        if !self.r.read(self.off, &mut h) {
            return None;
        }
        let len = u16::from_be_bytes([h[2], h[3]]);
        let (ty, flags) = (h[0], h[1]);
        let mut init_tag = None;
        if ty == chunk::INIT || ty == chunk::INIT_ACK {
            let mut ih = [0u8; 16];
            if self.r.read(self.off + 4, &mut ih) {
                init_tag = Some(u32::from_ne_bytes([ih[0], ih[1], ih[2], ih[3]]));
            }
        }
        // A zero length would not advance: the basic checks refuse it,
        // and the walk ends there.
        if len == 0 {
            self.off = usize::MAX;
        } else {
            self.off = self.off.saturating_add((usize::from(len) + 3) & !3);
        }
        Some(Raw {
            c: Chunk {
                ty,
                flags,
                init_tag,
            },
            len,
        })
    }
}

impl<R: PacketReader> Iterator for Chunks<'_, R> {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        self.next_raw().map(|r| r.c)
    }
}

/// `do_basic_checks()`: the bitmap of chunk types below 16 the packet
/// carries, or `None` if it has no chunk, a chunk of length 0, a COOKIE
/// ECHO or COOKIE ACK that is not the first chunk, or anything besides
/// an INIT, INIT ACK or SHUTDOWN COMPLETE.
pub fn basic_checks<R: PacketReader>(mut c: Chunks<'_, R>) -> Option<u16> {
    let (mut map, mut count, mut only) = (0u16, 0u32, false);
    while let Some(Raw { c, len }) = c.next_raw() {
        if matches!(
            c.ty,
            chunk::INIT | chunk::INIT_ACK | chunk::SHUTDOWN_COMPLETE
        ) {
            only = true;
        }
        if ((c.ty == chunk::COOKIE_ACK || c.ty == chunk::COOKIE_ECHO || only) && count != 0)
            || len == 0
        {
            return None;
        }
        if c.ty < 16 {
            map |= 1 << c.ty;
        }
        count += 1;
    }
    (count != 0).then_some(map)
}

fn has(map: u16, ty: u8) -> bool {
    map & (1 << ty) != 0
}

/// What a packet did to an association.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SctpVerdict {
    /// Invalid: counted; what the walk changed in the data before it
    /// failed stays, as in nf_conntrack (the state does not change).
    Invalid,
    /// Accepted without refreshing the timeout (a retransmitted INIT on a
    /// closed association, a HEARTBEAT with an unexpected tag).
    Ignore,
    /// Accepted: the new state, whose timeout to arm, and whether the
    /// association just became ESTABLISHED (ASSURED).
    Accept(SctpState, bool),
}

/// `sctp_new()`: whether the first packet of an association may create it
/// (every chunk a known control chunk, an INIT only with a zero tag and
/// its fixed part), and the data it starts with.
fn new_ct<R: PacketReader>(vtag: u32, chunks: Chunks<'_, R>) -> Option<SctpCt> {
    let mut ct = SctpCt::default();
    for c in chunks {
        let s = new_state(Dir::Original, S_NO, c.ty);
        if s == S_NO || s == S_IV {
            return None;
        }
        match c.ty {
            chunk::INIT => {
                if vtag != 0 {
                    return None;
                }
                ct.vtag[1] = c.init_tag?;
            }
            chunk::HEARTBEAT => ct.vtag[0] = vtag,
            chunk::SHUTDOWN_ACK => ct.vtag[1] = vtag,
            _ => {}
        }
    }
    Some(ct)
}

/// `nf_conntrack_sctp_packet()` after its checksum and basic checks: the
/// packet whose common header carries `vtag`, chunk types `map` (from
/// [`basic_checks`]) and `chunks`, in direction `dir` of an association
/// with data `ct`, or of a new one (`ct` is `None`). Returns the verdict
/// and the data to keep (unchanged for an invalid new association).
pub fn sctp_packet<R: PacketReader>(
    ct: Option<SctpCt>,
    dir: Dir,
    vtag: u32,
    map: u16,
    chunks: Chunks<'_, R>,
) -> (SctpVerdict, SctpCt) {
    use chunk::*;
    let confirmed = ct.is_some();
    let mut ct = match ct {
        Some(ct) => ct,
        None => {
            // Out of the blue with these: discard (RFC 9260 8.4).
            if has(map, ABORT) || has(map, SHUTDOWN_COMPLETE) || has(map, COOKIE_ACK) {
                return (SctpVerdict::Invalid, SctpCt::default());
            }
            match new_ct(vtag, chunks.clone()) {
                Some(ct) => ct,
                None => return (SctpVerdict::Invalid, SctpCt::default()),
            }
        }
    };
    let d = dir as usize;
    let o = 1 - d;
    // The verification tag (8.5), unless a chunk with rules of its own.
    let exempt = [
        INIT,
        SHUTDOWN_COMPLETE,
        COOKIE_ECHO,
        ABORT,
        SHUTDOWN_ACK,
        HEARTBEAT,
        HEARTBEAT_ACK,
    ];
    if !exempt.iter().any(|&t| has(map, t)) && vtag != ct.vtag[d] {
        return (SctpVerdict::Invalid, ct);
    }
    let (mut ignore, mut assured) = (false, false);
    let mut new = S_NO;
    for c in chunks {
        let tag_is = |mine: bool| vtag == if mine { ct.vtag[d] } else { ct.vtag[o] };
        match c.ty {
            // 8.5.1 (A): an INIT's tag must be zero.
            INIT if vtag != 0 => return (SctpVerdict::Invalid, ct),
            // (B), (C): the own tag, or the peer's with the T flag.
            ABORT | SHUTDOWN_COMPLETE if !tag_is(c.flags & FLAG_T == 0) => {
                return (SctpVerdict::Invalid, ct)
            }
            // (D): the tag of the INIT ACK.
            COOKIE_ECHO if vtag != ct.vtag[d] => return (SctpVerdict::Invalid, ct),
            COOKIE_ACK => ct.init = [false, false],
            HEARTBEAT => {
                if ct.vtag[d] == 0 {
                    ct.vtag[d] = vtag;
                } else if vtag != ct.vtag[d] {
                    if has(map, DATA) || ignore {
                        return (SctpVerdict::Invalid, ct);
                    }
                    ct.hb_failed = true;
                    ct.last_dir = d as u8;
                    ignore = true;
                    continue;
                } else {
                    ct.hb_failed = false;
                }
            }
            HEARTBEAT_ACK => {
                if ct.vtag[d] == 0 {
                    ct.vtag[d] = vtag;
                } else if vtag != ct.vtag[d] {
                    if has(map, DATA) || ignore || !ct.hb_failed || ct.last_dir == d as u8 {
                        return (SctpVerdict::Invalid, ct);
                    }
                    ct.hb_failed = false;
                    ct.vtag[d] = vtag;
                    ct.vtag[o] = 0;
                } else {
                    ct.hb_failed = false;
                }
            }
            _ => {}
        }
        let old = ct.state;
        new = new_state(dir, old, c.ty);
        if new == S_IV {
            return (SctpVerdict::Invalid, ct);
        }
        if c.ty == INIT {
            let Some(tag) = c.init_tag else {
                return (SctpVerdict::Invalid, ct);
            };
            // A stale or retransmitted INIT carries the peer's tag: not
            // recorded as an INIT of this direction.
            if old == S_NO || ct.vtag[o] != tag {
                if ct.init[d] && ct.init[o] {
                    ct.init[o] = false;
                }
                ct.init[d] = true;
            }
            ct.vtag[o] = tag;
            // A retransmitted INIT does not renew the timeout: port reuse
            // would keep a dead entry alive for ever.
            if new == S_CL && old == S_CL && confirmed {
                ignore = true;
            }
        } else if c.ty == INIT_ACK {
            let Some(tag) = c.init_tag else {
                return (SctpVerdict::Invalid, ct);
            };
            // A tag other than the INIT's, unless an INIT of the other
            // side is pending alone; or a collision (INITs both ways).
            let v = ct.vtag[o];
            if v != tag && ((!ct.init[o] && v != 0) || (ct.init[d] && ct.init[o])) {
                return (SctpVerdict::Invalid, ct);
            }
            ct.vtag[o] = tag;
        }
        ct.state = new;
        if old != new && new == S_ES {
            assured = true;
        }
    }
    if ignore {
        return (SctpVerdict::Ignore, ct);
    }
    (
        SctpVerdict::Accept(SctpState::from_bits(u32::from(new)), assured),
        ct,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::SliceReader;

    /// An SCTP packet (common header and chunks, no IP header): tag
    /// `vtag`, chunks as (type, flags, initiate tag).
    fn pkt(vtag: u32, chunks: &[(u8, u8, u32)]) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        p[4..8].copy_from_slice(&vtag.to_ne_bytes());
        for &(ty, flags, tag) in chunks {
            let init = ty == chunk::INIT || ty == chunk::INIT_ACK;
            let len: u16 = if init { 20 } else { 4 };
            p.extend_from_slice(&[ty, flags]);
            p.extend_from_slice(&len.to_be_bytes());
            if init {
                p.extend_from_slice(&tag.to_ne_bytes());
                p.extend_from_slice(&[0; 12]);
            }
        }
        p
    }

    /// Applies a packet; returns the verdict and keeps the data.
    fn step(ct: &mut Option<SctpCt>, dir: Dir, vtag: u32, chunks: &[(u8, u8, u32)]) -> SctpVerdict {
        let p = pkt(vtag, chunks);
        let r = SliceReader(&p);
        let Some(map) = basic_checks(Chunks::new(&r, 0)) else {
            return SctpVerdict::Invalid;
        };
        let (v, n) = sctp_packet(*ct, dir, vtag, map, Chunks::new(&r, 0));
        if ct.is_some() || v != SctpVerdict::Invalid {
            *ct = Some(n);
        }
        v
    }

    use chunk::*;
    use Dir::{Original as O, Reply as R};
    use SctpState as S;

    const CT: u32 = 0x1111; // the client's tag (in its INIT)
    const ST: u32 = 0x2222; // the server's tag (in its INIT ACK)

    /// The four-way handshake, data, and the shutdown, as nf_conntrack
    /// steps through them.
    #[test]
    fn association_life() {
        let mut ct = None;
        assert_eq!(
            step(&mut ct, O, 0, &[(INIT, 0, CT)]),
            SctpVerdict::Accept(S::Closed, false)
        );
        assert_eq!(ct.map(|c| c.vtag), Some([0, CT]));
        assert_eq!(
            step(&mut ct, R, CT, &[(INIT_ACK, 0, ST)]),
            SctpVerdict::Accept(S::CookieWait, false)
        );
        assert_eq!(
            step(&mut ct, O, ST, &[(COOKIE_ECHO, 0, 0)]),
            SctpVerdict::Accept(S::CookieEchoed, false)
        );
        assert_eq!(
            step(&mut ct, R, CT, &[(COOKIE_ACK, 0, 0)]),
            SctpVerdict::Accept(S::Established, true)
        );
        assert_eq!(
            step(&mut ct, O, ST, &[(DATA, 0, 0)]),
            SctpVerdict::Accept(S::Established, false)
        );
        // The wrong tag: invalid, nothing changes.
        assert_eq!(step(&mut ct, O, CT, &[(DATA, 0, 0)]), SctpVerdict::Invalid);
        assert_eq!(
            step(&mut ct, O, ST, &[(SHUTDOWN, 0, 0)]),
            SctpVerdict::Accept(S::ShutdownSent, false)
        );
        assert_eq!(
            step(&mut ct, R, CT, &[(SHUTDOWN_ACK, 0, 0)]),
            SctpVerdict::Accept(S::ShutdownAckSent, false)
        );
        assert_eq!(
            step(&mut ct, O, ST, &[(SHUTDOWN_COMPLETE, 0, 0)]),
            SctpVerdict::Accept(S::Closed, false)
        );
    }

    #[test]
    fn new_associations() {
        // Out of the blue ABORT, SHUTDOWN COMPLETE, COOKIE ACK; DATA; an
        // INIT with a tag: no association.
        for c in [ABORT, SHUTDOWN_COMPLETE, COOKIE_ACK, DATA] {
            assert_eq!(
                step(&mut None, O, 5, &[(c, 0, 0)]),
                SctpVerdict::Invalid,
                "{c}"
            );
        }
        assert_eq!(
            step(&mut None, O, 5, &[(INIT, 0, CT)]),
            SctpVerdict::Invalid
        );
        // A HEARTBEAT on a new path, answered.
        let mut ct = None;
        assert_eq!(
            step(&mut ct, O, 7, &[(HEARTBEAT, 0, 0)]),
            SctpVerdict::Accept(S::HeartbeatSent, false)
        );
        assert_eq!(
            step(&mut ct, R, 8, &[(HEARTBEAT_ACK, 0, 0)]),
            SctpVerdict::Accept(S::Established, true)
        );
        assert_eq!(ct.map(|c| c.vtag), Some([7, 8]));
    }

    #[test]
    fn basic_checks_refuse() {
        let r = |p: Vec<u8>| basic_checks(Chunks::new(&SliceReader(&p), 0));
        assert_eq!(r(pkt(0, &[])), None);
        assert_eq!(r(pkt(0, &[(INIT, 0, 1), (DATA, 0, 0)])), None);
        assert_eq!(r(pkt(0, &[(DATA, 0, 0), (COOKIE_ECHO, 0, 0)])), None);
        assert_eq!(
            r(pkt(0, &[(COOKIE_ECHO, 0, 0), (DATA, 0, 0)])),
            Some(1 << COOKIE_ECHO | 1)
        );
        let mut zero = pkt(0, &[(DATA, 0, 0)]);
        zero[15] = 0;
        assert_eq!(r(zero), None);
    }

    #[test]
    fn retransmitted_init_does_not_refresh() {
        let mut ct = None;
        step(&mut ct, O, 0, &[(INIT, 0, CT)]);
        assert_eq!(step(&mut ct, O, 0, &[(INIT, 0, CT)]), SctpVerdict::Ignore);
        // An ABORT carries its sender's expected tag (the INIT's, CT),
        // or with the T flag the peer's (none yet: 0).
        assert_eq!(step(&mut ct, R, 0, &[(ABORT, 0, 0)]), SctpVerdict::Invalid);
        assert_eq!(
            step(&mut ct, R, CT, &[(ABORT, FLAG_T, 0)]),
            SctpVerdict::Invalid
        );
        assert_eq!(
            step(&mut ct, R, CT, &[(ABORT, 0, 0)]),
            SctpVerdict::Accept(S::Closed, false)
        );
        assert_eq!(
            step(&mut ct, R, 0, &[(ABORT, FLAG_T, 0)]),
            SctpVerdict::Accept(S::Closed, false)
        );
    }

    #[test]
    fn pack_round_trip() {
        let ct = SctpCt {
            state: 4,
            vtag: [0xdead_beef, 7],
            init: [true, false],
            hb_failed: true,
            last_dir: 1,
        };
        assert_eq!(SctpCt::unpack(&ct.pack(), 4), ct);
    }
}
