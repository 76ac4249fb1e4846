// SPDX-License-Identifier: GPL-2.0

//! Connection tuples and packet parsing.
//!
//! Pure logic: no dependency on the `kernel` crate, so that it is unit tested
//! on the host with `cargo test` (see `rust/host/`). Packets are read through
//! [`PacketReader`], which the kernel side implements with
//! `skb_header_pointer()` semantics: every read is bounds checked against the
//! packet and copies into a caller buffer, so non-linear and HIGHMEM skbs work
//! and nothing past what was validated is ever looked at.

/// IPv4 protocol family (`NFPROTO_IPV4`).
pub const NFPROTO_IPV4: u8 = 2;
/// IPv6 protocol family (`NFPROTO_IPV6`).
pub const NFPROTO_IPV6: u8 = 10;

/// ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// SCTP.
pub const IPPROTO_SCTP: u8 = 132;

const ICMP_ECHOREPLY: u8 = 0;
const ICMP_ECHO: u8 = 8;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// TCP flag bits as in the TCP header (byte 13).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// One direction of a connection.
///
/// Addresses are kept as the raw network-order bytes of the header; IPv4 uses
/// the first four bytes. `src_id`/`dst_id` are ports (host order) for TCP, UDP
/// and SCTP; for ICMP/ICMPv6 echo `src_id` is the identifier and `dst_id`
/// holds `type << 8 | code`; zero for other protocols, UDP-Lite included
/// (nf_conntrack 7.3 has no UDP-Lite tracker: its generic one keys it by
/// addresses alone).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct Tuple {
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Source port or ICMP identifier.
    pub src_id: u16,
    /// Destination port or ICMP type/code.
    pub dst_id: u16,
    /// `NFPROTO_IPV4` or `NFPROTO_IPV6`.
    pub l3: u8,
    /// IP protocol number.
    pub l4: u8,
}

impl Tuple {
    /// The tuple of the other direction of the same connection.
    pub fn invert(&self) -> Tuple {
        let mut t = Tuple {
            src: self.dst,
            dst: self.src,
            src_id: self.dst_id,
            dst_id: self.src_id,
            l3: self.l3,
            l4: self.l4,
        };
        if self.is_icmp() {
            // Queries: same identifier, request and reply types swapped.
            let ty = (self.dst_id >> 8) as u8;
            let inv = icmp_inverse(self.l3, ty).unwrap_or(ty);
            t.src_id = self.src_id;
            t.dst_id = (u16::from(inv) << 8) | (self.dst_id & 0xff);
        }
        t
    }

    /// Whether this is an ICMP or ICMPv6 tuple.
    pub fn is_icmp(&self) -> bool {
        (self.l3 == NFPROTO_IPV4 && self.l4 == IPPROTO_ICMP)
            || (self.l3 == NFPROTO_IPV6 && self.l4 == IPPROTO_ICMPV6)
    }

    /// Whether the protocol carries ports.
    pub fn has_ports(&self) -> bool {
        matches!(self.l4, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
    }

    /// The tuple as 32-bit words, for hashing, and how many of them count:
    /// IPv6 4 + 4 address words, ports, protocols (10); IPv4 the first
    /// address word of each side, ports, protocols (4), as the other
    /// address bytes of an IPv4 tuple are zero (a hash of 5 words with the
    /// salt instead of 11 costs about half).
    pub fn hash_words(&self) -> ([u32; 10], usize) {
        let mut w = [0u32; 10];
        if let Some([a, b, c, d]) = self.hash_words4() {
            // Not copy_from_slice: its out-of-line u32 instance ends in a
            // panic call objtool does not know as noreturn ("falls
            // through").
            (w[0], w[1], w[2], w[3]) = (a, b, c, d);
            return (w, 4);
        }
        let ports = (u32::from(self.src_id) << 16) | u32::from(self.dst_id);
        let protos = (u32::from(self.l3) << 8) | u32::from(self.l4);
        for i in 0..4 {
            w[i] = word(&self.src, 4 * i);
            w[4 + i] = word(&self.dst, 4 * i);
        }
        w[8] = ports;
        w[9] = protos;
        (w, 10)
    }
}

impl Tuple {
    /// [`Tuple::hash_words`] of an IPv4 tuple, `None` for IPv6: the
    /// packet path's hash without the 10-word array (inlined).
    #[inline]
    pub fn hash_words4(&self) -> Option<[u32; 4]> {
        (self.l3 == NFPROTO_IPV4).then(|| {
            [
                word(&self.src, 0),
                word(&self.dst, 0),
                (u32::from(self.src_id) << 16) | u32::from(self.dst_id),
                (u32::from(self.l3) << 8) | u32::from(self.l4),
            ]
        })
    }
}

/// Bytes `i..i + 4` of `a` as a native-endian word (`i` at most 12).
#[inline]
fn word(a: &[u8; 16], i: usize) -> u32 {
    let i = i.min(12);
    u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]])
}

/// A connection's two directions.
///
/// The original direction is the tuple of its first packet as the tracker
/// saw it where the packet entered (before DNAT, which runs after the track
/// hook); the reply direction is the inverse of the tuple that packet left
/// with (after SNAT, which runs before the confirm hook): what the other
/// end answers to. Without NAT the two are mirror images.
///
/// The rewritten tuple costs no memory for IPv4: an IPv4 address uses 4 of
/// the 16 bytes of [`Tuple::src`] and [`Tuple::dst`], so the outgoing
/// addresses take bytes 4..8 and the outgoing ports bytes 8..10 of the
/// same arrays. IPv6 has no such room: a rewritten IPv6 connection keeps
/// the tuple it left with beside the `Conn`, as its *tail* ([`Conn::new`]
/// returns it), and every method that needs the reply direction takes
/// that tail (`None` for every other connection: a `Conn` of IPv6 without
/// its tail is a mirror image). The table keeps tails only in the entries
/// that have one, from a second, larger slab cache, so NAT costs nothing
/// to the connections it does not touch.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct Conn {
    t: Tuple,
}

/// What a rewritten IPv6 connection keeps beside its [`Conn`]: the tuple
/// its first packet left with.
pub type ConnTail = Tuple;

impl Conn {
    /// A connection whose first packet entered as `orig` and left as `out`,
    /// with the tail it needs (a rewritten IPv6 connection's outgoing
    /// tuple), or `None` if the protocol changed on the way.
    pub fn new(orig: &Tuple, out: &Tuple) -> Option<(Conn, Option<ConnTail>)> {
        if out.l3 != orig.l3 || out.l4 != orig.l4 {
            return None;
        }
        if orig.l3 != NFPROTO_IPV4 {
            let tail = (out != orig).then_some(*out);
            return Some((Conn { t: *orig }, tail));
        }
        let mut t = *orig;
        t.src[4..8].copy_from_slice(&out.src[..4]);
        t.dst[4..8].copy_from_slice(&out.dst[..4]);
        t.src[8..10].copy_from_slice(&out.src_id.to_ne_bytes());
        t.dst[8..10].copy_from_slice(&out.dst_id.to_ne_bytes());
        Some((Conn { t }, None))
    }

    /// A connection that no NAT rewrites (it has no tail).
    pub fn plain(t: &Tuple) -> Conn {
        // Cannot fail: `out == orig`.
        Conn::new(t, t).map_or(Conn { t: *t }, |(c, _)| c)
    }

    /// The original direction.
    pub fn orig(&self) -> Tuple {
        let mut t = self.t;
        if t.l3 == NFPROTO_IPV4 {
            t.src[4..].fill(0);
            t.dst[4..].fill(0);
        }
        t
    }

    /// The first packet as it left (the original direction after NAT);
    /// `tail` is the connection's (see [`Conn`]).
    pub fn out(&self, tail: Option<&ConnTail>) -> Tuple {
        if self.t.l3 != NFPROTO_IPV4 {
            return *tail.unwrap_or(&self.t);
        }
        let b = |a: &[u8; 16], i: usize| [a[i], a[i + 1]];
        let mut t = Tuple {
            src_id: u16::from_ne_bytes(b(&self.t.src, 8)),
            dst_id: u16::from_ne_bytes(b(&self.t.dst, 8)),
            l3: self.t.l3,
            l4: self.t.l4,
            ..Tuple::default()
        };
        t.src[..4].copy_from_slice(&self.t.src[4..8]);
        t.dst[..4].copy_from_slice(&self.t.dst[4..8]);
        t
    }

    /// The reply direction.
    pub fn reply(&self, tail: Option<&ConnTail>) -> Tuple {
        self.out(tail).invert()
    }

    /// The tuple of direction `reply`.
    pub fn dir(&self, tail: Option<&ConnTail>, reply: bool) -> Tuple {
        if reply {
            self.reply(tail)
        } else {
            self.orig()
        }
    }

    /// Whether direction `reply`'s tuple is `k`: `self.dir(tail, reply) ==
    /// *k`, without building the tuple (the table's chain walk asks this
    /// of every entry it passes; building it cost a copy and a clear of 40
    /// bytes each time).
    #[inline]
    pub fn is_dir(&self, tail: Option<&ConnTail>, reply: bool, k: &Tuple) -> bool {
        let t = &self.t;
        if k.l3 != t.l3 || k.l4 != t.l4 {
            return false;
        }
        if t.is_icmp() {
            // The echo types swap in the reply: not worth a fast path.
            return self.is_dir_slow(tail, reply, k);
        }
        if t.l3 != NFPROTO_IPV4 {
            return if reply {
                let o = tail.unwrap_or(t);
                k.src == o.dst && k.dst == o.src && k.src_id == o.dst_id && k.dst_id == o.src_id
            } else {
                k == t
            };
        }
        // IPv4: bytes 4..16 of the key's addresses are zero in any tuple
        // `dir()` returns.
        let rest_zero = |a: &[u8; 16]| (word(a, 4) | word(a, 8) | word(a, 12)) == 0;
        if !rest_zero(&k.src) || !rest_zero(&k.dst) {
            return false;
        }
        let id = |a: &[u8; 16]| u16::from_ne_bytes([a[8], a[9]]);
        if reply {
            // The inverse of `out()`: the addresses and ports the first
            // packet left with, swapped.
            word(&k.src, 0) == word(&t.dst, 4)
                && word(&k.dst, 0) == word(&t.src, 4)
                && k.src_id == id(&t.dst)
                && k.dst_id == id(&t.src)
        } else {
            word(&k.src, 0) == word(&t.src, 0)
                && word(&k.dst, 0) == word(&t.dst, 0)
                && k.src_id == t.src_id
                && k.dst_id == t.dst_id
        }
    }

    /// [`Conn::is_dir`] by building the tuple; out of line, so that the
    /// fast path stays small enough to inline into the chain walk.
    #[cold]
    #[inline(never)]
    fn is_dir_slow(&self, tail: Option<&ConnTail>, reply: bool, k: &Tuple) -> bool {
        self.dir(tail, reply) == *k
    }

    /// IP protocol number.
    pub fn l4(&self) -> u8 {
        self.t.l4
    }

    /// Whether this is an ICMP or ICMPv6 connection.
    pub fn is_icmp(&self) -> bool {
        self.t.is_icmp()
    }
}

/// Why a packet was not trackable.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Invalid {
    /// Shorter than its headers claim, or a header is cut off.
    Truncated,
    /// IPv4 header length below 20 bytes or past the packet.
    BadIhl,
    /// A length field that contradicts the packet.
    BadLength,
    /// A fragment (rconntrack does not reassemble).
    Fragment,
    /// TCP data offset below 5 words or past the segment.
    BadDataOffset,
    /// A TCP flag combination no stack sends (SYN+FIN, SYN+RST, none...).
    BadTcpFlags,
    /// SCTP chunks nf_conntrack's `do_basic_checks()` refuses (none, one
    /// of length 0, a COOKIE chunk not first, anything besides an INIT,
    /// INIT ACK or SHUTDOWN COMPLETE), or a chunk the association's state
    /// or verification tags refuse.
    SctpChunks,
    /// A TCP, UDP, ICMP or ICMPv6 checksum that does not add up (checked
    /// where the packet enters, as nf_conntrack with
    /// `nf_conntrack_checksum`).
    BadChecksum,
    /// A TCP segment the state table refuses in its connection's state
    /// (a SYN/ACK from the client in SYN_SENT...).
    TcpState,
    /// A TCP segment outside the window (`tcp_in_window()`): sequence or
    /// acknowledgement out of bounds, or a RST below what the other side
    /// acknowledged.
    OutOfWindow,
    /// An ICMP echo reply or other packet that cannot open a connection.
    CannotCreate,
    /// An IP version that does not match the hook.
    BadVersion,
    /// Too many IPv6 extension headers.
    TooManyExtHeaders,
    /// An ICMP or ICMPv6 type that is neither a query nf_conntrack tracks,
    /// nor an error, nor (ICMPv6) neighbour discovery or MLD.
    IcmpType,
    /// An ICMP error quoting a packet of no known connection, or sent to
    /// an address that connection does not go to (nf_conntrack's
    /// `nf_conntrack_inet_error`), or quoting an ICMP error.
    Unrelated,
}

/// TCP option bits of [`Seg::opts`], valued as nf_conntrack's
/// `IP_CT_TCP_FLAG_*` where they have one.
pub mod tcp_opts {
    /// A window scale option (its shift in [`super::Seg::wscale`]).
    pub const WINDOW_SCALE: u8 = 0x01;
    /// SACK permitted.
    pub const SACK_PERM: u8 = 0x02;
    /// The segment has option bytes at all (data offset above 5 words).
    pub const PRESENT: u8 = 0x80;
}

/// What the window checks read from a TCP segment (nf_conntrack reads the
/// same fields from the header and its options). All zero for other
/// protocols but `flags`, which is 0 there too.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Seg {
    /// TCP flags (FIN..URG).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// The highest SACK right edge after `ack` in the first SACK option,
    /// else `ack` (nf_conntrack's `tcp_sack()`).
    pub sack: u32,
    /// Window, unscaled.
    pub win: u16,
    /// `seq` + payload length + SYN + FIN (`segment_seq_plus_len()`).
    pub end: u32,
    /// [`tcp_opts`] bits.
    pub opts: u8,
    /// Window scale shift, capped to 14 (`TCP_MAX_WSCALE`).
    pub wscale: u8,
    /// SCTP: the common header's offset from the network header (the
    /// chunks are read again from the packet under the entry's lock).
    pub l4_off: u16,
    /// SCTP: the chunk types below 16 the packet carries
    /// ([`crate::sctp::basic_checks`]).
    pub sctp_map: u16,
    /// SCTP: the verification tag, as on the wire.
    pub vtag: u32,
}

impl Seg {
    /// A segment that carries only flags (tests, fallbacks).
    pub fn flags(flags: u8) -> Seg {
        Seg {
            flags,
            ..Seg::default()
        }
    }
}

/// What the parser found in a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Parsed {
    /// A trackable packet: its tuple and, for TCP, its segment (flags 0 and
    /// zeros for other protocols).
    Track(Tuple, Seg),
    /// An ICMP or ICMPv6 error: the tuple of the packet it quotes, inverted
    /// (the direction the error travels, which is a direction of the
    /// connection it belongs to), and the error's destination address.
    Related(Tuple, [u8; 16]),
    /// Not tracked and not invalid (neighbour discovery, MLD...).
    Ignore,
    /// Malformed or untrackable: count it, never create an entry.
    Invalid(Invalid),
}

/// Bounds-checked access to a packet, starting at its network header.
pub trait PacketReader {
    /// Bytes available from the network header to the end of the packet.
    fn len(&self) -> usize;

    /// Copies `buf.len()` bytes at `off`; `false` if they are not all there.
    fn read(&self, off: usize, buf: &mut [u8]) -> bool;

    /// Whether the packet is a TCP GSO packet, which may be larger than an
    /// IP length field can say (BIG TCP: IPv4 `tot_len` and IPv6
    /// `payload_len` are then 0, `iph_totlen()`/`ipv6_payload_len()`).
    fn gso_tcp(&self) -> bool {
        false
    }

    /// Whether the transport checksum of protocol `l4` at `off` (family
    /// `l3`) adds up; a reader that does not verify checksums (the
    /// default, and the kernel's outside PRE_ROUTING) answers `true`.
    fn csum_ok(&self, _l3: u8, _off: usize, _l4: u8) -> bool {
        true
    }
}

/// A [`PacketReader`] over a byte slice (tests, linear data).
pub struct SliceReader<'a>(pub &'a [u8]);

impl PacketReader for SliceReader<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&self, off: usize, buf: &mut [u8]) -> bool {
        match off.checked_add(buf.len()) {
            Some(end) if end <= self.0.len() => {
                for (d, s) in buf.iter_mut().zip(&self.0[off..end]) {
                    *d = *s;
                }
                true
            }
            _ => false,
        }
    }
}

/// Copies as many bytes as both sides have (no panic path on the packet
/// path, unlike `copy_from_slice`).
fn copy(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

fn be32(b: &[u8], i: usize) -> u32 {
    (u32::from(be16(b, i)) << 16) | u32::from(be16(b, i + 2))
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// The fixed IPv4 header at `off` and its length (IHL), checked: version
/// 4, at least 20 bytes.
fn ipv4_header(r: &impl PacketReader, off: usize) -> Result<([u8; 20], usize), Invalid> {
    let mut h = [0u8; 20];
    if !r.read(off, &mut h) {
        return Err(Invalid::Truncated);
    }
    if h[0] >> 4 != 4 {
        return Err(Invalid::BadVersion);
    }
    let ihl = ((h[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return Err(Invalid::BadIhl);
    }
    Ok((h, ihl))
}

/// Parses an IPv4 packet.
pub fn parse_ipv4(r: &impl PacketReader) -> Parsed {
    let (h, ihl) = match ipv4_header(r, 0) {
        Ok(v) => v,
        Err(why) => return Parsed::Invalid(why),
    };
    let tot_len = match be16(&h, 2) as usize {
        // BIG TCP: the packet's own length.
        0 if r.gso_tcp() => r.len(),
        l => l,
    };
    if tot_len < ihl {
        return Parsed::Invalid(Invalid::BadIhl);
    }
    if tot_len > r.len() {
        return Parsed::Invalid(Invalid::BadLength);
    }
    // MF set or a non-zero offset: a fragment.
    if be16(&h, 6) & 0x3fff != 0 {
        return Parsed::Invalid(Invalid::Fragment);
    }
    let mut t = Tuple {
        l3: NFPROTO_IPV4,
        l4: h[9],
        ..Tuple::default()
    };
    copy(&mut t.src, &h[12..16]);
    copy(&mut t.dst, &h[16..20]);
    parse_l4(r, t, ihl, tot_len)
}

/// Parses an IPv6 packet, walking a bounded chain of extension headers.
pub fn parse_ipv6(r: &impl PacketReader) -> Parsed {
    let mut h = [0u8; 40];
    if !r.read(0, &mut h) {
        return Parsed::Invalid(Invalid::Truncated);
    }
    if h[0] >> 4 != 6 {
        return Parsed::Invalid(Invalid::BadVersion);
    }
    let end = match be16(&h, 4) as usize {
        // BIG TCP: the packet's own length.
        0 if r.gso_tcp() => r.len(),
        l => 40 + l,
    };
    if end > r.len() {
        return Parsed::Invalid(Invalid::BadLength);
    }
    let mut t = Tuple {
        l3: NFPROTO_IPV6,
        ..Tuple::default()
    };
    copy(&mut t.src, &h[8..24]);
    copy(&mut t.dst, &h[24..40]);

    match skip_ext_headers(r, h[6], 40, end) {
        Ok((next, off)) => {
            t.l4 = next;
            parse_l4(r, t, off, end)
        }
        Err(why) => Parsed::Invalid(why),
    }
}

/// Walks a bounded chain of IPv6 extension headers starting with header
/// type `next` at `off`: the transport protocol and its offset.
fn skip_ext_headers(
    r: &impl PacketReader,
    mut next: u8,
    mut off: usize,
    end: usize,
) -> Result<(u8, usize), Invalid> {
    for _ in 0..8 {
        match next {
            // Hop-by-hop, routing, destination options.
            0 | 43 | 60 => {
                let mut e = [0u8; 2];
                if off + 2 > end || !r.read(off, &mut e) {
                    return Err(Invalid::Truncated);
                }
                next = e[0];
                off += (e[1] as usize + 1) * 8;
            }
            // Fragment header: atomic fragments (offset 0, no MF) are fine.
            44 => {
                let mut e = [0u8; 8];
                if off + 8 > end || !r.read(off, &mut e) {
                    return Err(Invalid::Truncated);
                }
                if be16(&e, 2) & 0xfff9 != 0 {
                    return Err(Invalid::Fragment);
                }
                next = e[0];
                off += 8;
            }
            // Authentication header: length in 4-byte units minus 2.
            51 => {
                let mut e = [0u8; 2];
                if off + 2 > end || !r.read(off, &mut e) {
                    return Err(Invalid::Truncated);
                }
                next = e[0];
                off += (e[1] as usize + 2) * 4;
            }
            _ => {
                if off > end {
                    return Err(Invalid::Truncated);
                }
                return Ok((next, off));
            }
        }
    }
    Err(Invalid::TooManyExtHeaders)
}

/// Parses the transport header at `off`; the IP payload ends at `end`.
fn parse_l4(r: &impl PacketReader, mut t: Tuple, off: usize, end: usize) -> Parsed {
    let l4len = end - off;
    match t.l4 {
        IPPROTO_TCP => {
            let mut th = [0u8; 20];
            if l4len < 20 || !r.read(off, &mut th) {
                return Parsed::Invalid(Invalid::Truncated);
            }
            let doff = ((th[12] >> 4) as usize) * 4;
            if doff < 20 || doff > l4len {
                return Parsed::Invalid(Invalid::BadDataOffset);
            }
            // tcp_error()'s order: lengths, checksum, flags.
            if !r.csum_ok(t.l3, off, IPPROTO_TCP) {
                return Parsed::Invalid(Invalid::BadChecksum);
            }
            let flags = th[13] & 0x3f;
            if !tcp_flags_valid(flags) {
                return Parsed::Invalid(Invalid::BadTcpFlags);
            }
            t.src_id = be16(&th, 0);
            t.dst_id = be16(&th, 2);
            let seq = be32(&th, 4);
            let ack = be32(&th, 8);
            let fin_syn =
                u32::from(flags & tcp_flags::FIN) + u32::from((flags & tcp_flags::SYN) >> 1);
            let mut seg = Seg {
                flags,
                seq,
                ack,
                sack: ack,
                win: be16(&th, 14),
                end: seq
                    .wrapping_add((l4len - doff) as u32)
                    .wrapping_add(fin_syn),
                opts: 0,
                wscale: 0,
                ..Seg::default()
            };
            if doff > 20 {
                let mut o = [0u8; 40];
                let o = &mut o[..doff - 20];
                if !r.read(off + 20, o) {
                    return Parsed::Invalid(Invalid::Truncated);
                }
                tcp_options(o, &mut seg);
            }
            Parsed::Track(t, seg)
        }
        IPPROTO_UDP => {
            let mut uh = [0u8; 8];
            if l4len < 8 || !r.read(off, &mut uh) {
                return Parsed::Invalid(Invalid::Truncated);
            }
            // The length covers header and data.
            let ulen = be16(&uh, 4) as usize;
            let bad = ulen < 8 || ulen > l4len;
            if bad {
                return Parsed::Invalid(Invalid::BadLength);
            }
            // No checksum (0) is not checked, in IPv6 too (udp_error()).
            if be16(&uh, 6) != 0 && !r.csum_ok(t.l3, off, IPPROTO_UDP) {
                return Parsed::Invalid(Invalid::BadChecksum);
            }
            t.src_id = be16(&uh, 0);
            t.dst_id = be16(&uh, 2);
            Parsed::Track(t, Seg::default())
        }
        IPPROTO_SCTP => {
            let mut sh = [0u8; 12];
            let Ok(l4_off) = u16::try_from(off) else {
                return Parsed::Invalid(Invalid::Truncated);
            };
            if l4len < 12 || !r.read(off, &mut sh) {
                return Parsed::Invalid(Invalid::Truncated);
            }
            // sctp_error() (length, CRC32c), then do_basic_checks().
            if !r.csum_ok(t.l3, off, IPPROTO_SCTP) {
                return Parsed::Invalid(Invalid::BadChecksum);
            }
            let Some(sctp_map) = crate::sctp::basic_checks(crate::sctp::Chunks::new(r, off)) else {
                return Parsed::Invalid(Invalid::SctpChunks);
            };
            t.src_id = be16(&sh, 0);
            t.dst_id = be16(&sh, 2);
            let seg = Seg {
                l4_off,
                sctp_map,
                vtag: u32::from_ne_bytes([sh[4], sh[5], sh[6], sh[7]]),
                ..Seg::default()
            };
            Parsed::Track(t, seg)
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let want = if t.l3 == NFPROTO_IPV4 {
                IPPROTO_ICMP
            } else {
                IPPROTO_ICMPV6
            };
            if t.l4 != want {
                // ICMP inside IPv6 or ICMPv6 inside IPv4: generic.
                return Parsed::Track(t, Seg::default());
            }
            let mut ih = [0u8; 8];
            if l4len < 8 || !r.read(off, &mut ih) {
                return Parsed::Invalid(Invalid::Truncated);
            }
            // Before the type (icmp_error(), icmpv6_error()): neighbour
            // discovery with a bad checksum is invalid too.
            if !r.csum_ok(t.l3, off, t.l4) {
                return Parsed::Invalid(Invalid::BadChecksum);
            }
            match ih[0] {
                ty if icmp_inverse(t.l3, ty).is_some() => {}
                ty if is_icmp_error(t.l3, ty) => return parse_quoted(r, &t, off + 8, end),
                ICMPV6_REDIRECT if t.l3 == NFPROTO_IPV6 => {
                    return parse_redirect(r, &t, ih[1], off, end)
                }
                // Neighbour discovery, MLD...: not connections.
                ty if t.l3 == NFPROTO_IPV6 && icmpv6_untracked(ty) => return Parsed::Ignore,
                // Any other type (router advertisements, types above 18,
                // unknown ICMPv6 informational types): nf_conntrack can
                // neither invert its tuple nor relate it, and counts it
                // invalid.
                _ => return Parsed::Invalid(Invalid::IcmpType),
            }
            t.src_id = be16(&ih, 4);
            t.dst_id = (u16::from(ih[0]) << 8) | u16::from(ih[1]);
            Parsed::Track(t, Seg::default())
        }
        _ => Parsed::Track(t, Seg::default()),
    }
}

/// nf_conntrack's `tcp_options()` and `tcp_sack()` over the option bytes
/// `o`: window scale, SACK permitted, and the highest SACK right edge after
/// the ACK in the first SACK option. Malformed options end the walk, as
/// there.
fn tcp_options(o: &[u8], seg: &mut Seg) {
    const EOL: u8 = 0;
    const NOP: u8 = 1;
    const WINDOW: u8 = 3;
    const SACK_PERM: u8 = 4;
    const SACK: u8 = 5;
    seg.opts |= tcp_opts::PRESENT;
    let mut i = 0;
    let mut sack_done = false;
    // Bounded: `i` grows by at least one each round.
    while i < o.len() {
        let code = o[i];
        if code == EOL {
            return;
        }
        if code == NOP {
            i += 1;
            continue;
        }
        let Some(&size) = o.get(i + 1) else {
            return;
        };
        let size = size as usize;
        if size < 2 || size > o.len() - i {
            return;
        }
        let body = &o[i + 2..i + size];
        match code {
            SACK_PERM if size == 2 => seg.opts |= tcp_opts::SACK_PERM,
            WINDOW if size == 3 => {
                seg.opts |= tcp_opts::WINDOW_SCALE;
                seg.wscale = body[0].min(14);
            }
            SACK if !sack_done && size >= 10 && (size - 2) % 8 == 0 => {
                sack_done = true;
                for b in body.chunks_exact(8) {
                    let right = be32(b, 4);
                    if (seg.sack.wrapping_sub(right) as i32) < 0 {
                        seg.sack = right;
                    }
                }
            }
            _ => {}
        }
        i += size;
    }
}

/// The reply type of an ICMP (ICMPv6) query type, or the query type of a
/// reply, for the queries nf_conntrack tracks (its `invmap`): echo,
/// timestamp, information and address mask (IPv4); echo and node
/// information (IPv6). `None` for any other type.
fn icmp_inverse(l3: u8, ty: u8) -> Option<u8> {
    icmp_pairs(l3).iter().find_map(|&(q, r)| {
        if ty == q {
            Some(r)
        } else if ty == r {
            Some(q)
        } else {
            None
        }
    })
}

/// The (query, reply) type pairs nf_conntrack tracks for family `l3`.
fn icmp_pairs(l3: u8) -> &'static [(u8, u8)] {
    if l3 == NFPROTO_IPV4 {
        &[(ICMP_ECHO, ICMP_ECHOREPLY), (13, 14), (15, 16), (17, 18)]
    } else {
        &[(ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY), (139, 140)]
    }
}

/// ICMPv6 types nf_conntrack leaves untracked (`noct_valid_new`: MLD,
/// router and neighbour discovery, multicast router discovery).
fn icmpv6_untracked(ty: u8) -> bool {
    matches!(ty, 130..=136 | 143 | 151 | 152)
}

/// ICMPv6 redirect.
const ICMPV6_REDIRECT: u8 = 137;

/// An ICMPv6 redirect of `outer` (code `code`, message at `off`), as
/// nf_conntrack's `nf_conntrack_icmpv6_redirect()`: from a link-local
/// router with hop limit 255, code 0, its first option the redirected
/// header, it is an error about the packet that header quotes (related to
/// that packet's connection); anything else is invalid.
fn parse_redirect(
    r: &impl PacketReader,
    outer: &Tuple,
    code: u8,
    off: usize,
    end: usize,
) -> Parsed {
    // The message: ICMPv6 header, target and destination addresses.
    const RD_MSG: usize = 8 + 16 + 16;
    let mut ip6 = [0u8; 8];
    if off + RD_MSG > end || !r.read(0, &mut ip6) {
        return Parsed::Invalid(Invalid::Truncated);
    }
    let link_local = outer.src[0] == 0xfe && outer.src[1] & 0xc0 == 0x80;
    if code != 0 || ip6[7] != 255 || !link_local {
        return Parsed::Invalid(Invalid::IcmpType);
    }
    // The first option: type 4 (redirected header), length in 8 bytes.
    let mut opt = [0u8; 2];
    if !r.read(off + RD_MSG, &mut opt) || opt[1] == 0 || opt[0] != 4 {
        return Parsed::Invalid(Invalid::IcmpType);
    }
    parse_quoted(r, outer, off + RD_MSG + 8, end)
}

/// nf_conntrack's `icmp_is_err` (IPv4) and ICMPv6 types below 128.
fn is_icmp_error(l3: u8, ty: u8) -> bool {
    if l3 == NFPROTO_IPV4 {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    } else {
        matches!(ty, 1..=4)
    }
}

/// The packet an ICMP error of `outer` quotes, from `off` to `end`: its
/// IP header and the first 8 bytes of its transport header.
fn parse_quoted(r: &impl PacketReader, outer: &Tuple, off: usize, end: usize) -> Parsed {
    let mut q = Tuple {
        l3: outer.l3,
        ..Tuple::default()
    };
    let l4off = if outer.l3 == NFPROTO_IPV4 {
        if off + 20 > end {
            return Parsed::Invalid(Invalid::Truncated);
        }
        let (h, ihl) = match ipv4_header(r, off) {
            Ok(v) => v,
            Err(why) => return Parsed::Invalid(why),
        };
        // A non-first fragment has no transport header to match.
        if be16(&h, 6) & 0x1fff != 0 {
            return Parsed::Invalid(Invalid::Fragment);
        }
        q.l4 = h[9];
        copy(&mut q.src, &h[12..16]);
        copy(&mut q.dst, &h[16..20]);
        off + ihl
    } else {
        let mut h = [0u8; 40];
        if off + 40 > end || !r.read(off, &mut h) {
            return Parsed::Invalid(Invalid::Truncated);
        }
        if h[0] >> 4 != 6 {
            return Parsed::Invalid(Invalid::BadVersion);
        }
        copy(&mut q.src, &h[8..24]);
        copy(&mut q.dst, &h[24..40]);
        match skip_ext_headers(r, h[6], off + 40, end) {
            Ok((next, l4off)) => {
                q.l4 = next;
                l4off
            }
            Err(why) => return Parsed::Invalid(why),
        }
    };
    let mut l4 = [0u8; 8];
    let has_l4 = l4off + 8 <= end && r.read(l4off, &mut l4);
    if q.has_ports() {
        if !has_l4 {
            return Parsed::Invalid(Invalid::Truncated);
        }
        q.src_id = be16(&l4, 0);
        q.dst_id = be16(&l4, 2);
    } else if q.is_icmp() {
        if !has_l4 {
            return Parsed::Invalid(Invalid::Truncated);
        }
        // An error about a query is related to it; an error about an
        // error never is (nf_conntrack cannot invert its tuple).
        if icmp_inverse(q.l3, l4[0]).is_none() {
            return Parsed::Invalid(Invalid::Unrelated);
        }
        q.src_id = be16(&l4, 4);
        q.dst_id = (u16::from(l4[0]) << 8) | u16::from(l4[1]);
    }
    Parsed::Related(q.invert(), outer.dst)
}

/// Whether a packet with this tuple may open a new connection.
pub fn can_create(t: &Tuple, tcp: u8) -> bool {
    match t.l4 {
        // A new TCP connection starts with SYN, or is picked up mid-stream
        // from an ACK (nf_conntrack's default `tcp_loose`).
        IPPROTO_TCP => {
            (tcp & (tcp_flags::SYN | tcp_flags::ACK)) == tcp_flags::SYN
                || ((tcp & (tcp_flags::SYN | tcp_flags::RST | tcp_flags::FIN)) == 0
                    && tcp & tcp_flags::ACK != 0)
        }
        // A query, not a reply (nf_conntrack's `valid_new`).
        _ if t.is_icmp() => {
            let ty = (t.dst_id >> 8) as u8;
            icmp_pairs(t.l3).iter().any(|&(q, _)| q == ty)
        }
        _ => true,
    }
}

/// nf_conntrack's `tcp_valid_flags`: combinations a real stack sends.
fn tcp_flags_valid(f: u8) -> bool {
    use tcp_flags::*;
    // PSH always allowed (ECE and CWR are masked off by the parser); URG
    // only where a stack sends it.
    const VALID: [u8; 9] = [
        SYN,
        SYN | URG,
        SYN | ACK,
        RST,
        RST | ACK,
        FIN | ACK,
        FIN | ACK | URG,
        ACK,
        ACK | URG,
    ];
    VALID.contains(&(f & !PSH))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let tot = 20 + l4.len();
        let mut p = vec![
            0x45,
            0,
            (tot >> 8) as u8,
            tot as u8,
            0,
            1,
            0x40,
            0,
            64,
            proto,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        p.extend_from_slice(l4);
        p
    }

    fn tcp(flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&1234u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    #[test]
    fn tcp_syn_tuple() {
        let p = ipv4(IPPROTO_TCP, &tcp(tcp_flags::SYN));
        match parse_ipv4(&SliceReader(&p)) {
            Parsed::Track(t, seg) => {
                let f = seg.flags;
                assert_eq!(f, tcp_flags::SYN);
                assert_eq!(t.src_id, 1234);
                assert_eq!(t.dst_id, 80);
                assert_eq!(&t.src[..4], &[10, 0, 0, 1]);
                assert_eq!(t.l3, NFPROTO_IPV4);
                assert!(can_create(&t, f));
                let r = t.invert();
                assert_eq!(r.src_id, 80);
                assert_eq!(&r.src[..4], &[10, 0, 0, 2]);
                assert_eq!(r.invert(), t);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_and_bad_headers() {
        let p = ipv4(IPPROTO_TCP, &tcp(tcp_flags::SYN));
        // Cut the TCP header.
        let mut short = p[..30].to_vec();
        short[3] = 30;
        assert_eq!(
            parse_ipv4(&SliceReader(&short)),
            Parsed::Invalid(Invalid::Truncated)
        );
        // Total length beyond the packet.
        assert_eq!(
            parse_ipv4(&SliceReader(&p[..39])),
            Parsed::Invalid(Invalid::BadLength)
        );
        // IHL 4.
        let mut bad = p.clone();
        bad[0] = 0x44;
        assert_eq!(
            parse_ipv4(&SliceReader(&bad)),
            Parsed::Invalid(Invalid::BadIhl)
        );
        // IHL past total length.
        let mut bad = p.clone();
        bad[0] = 0x4f;
        assert_eq!(
            parse_ipv4(&SliceReader(&bad)),
            Parsed::Invalid(Invalid::BadIhl)
        );
        // Data offset 4 and 15.
        for d in [4u8, 15] {
            let mut bad = p.clone();
            bad[32] = d << 4;
            assert_eq!(
                parse_ipv4(&SliceReader(&bad)),
                Parsed::Invalid(Invalid::BadDataOffset)
            );
        }
        // SYN+FIN.
        let p2 = ipv4(IPPROTO_TCP, &tcp(tcp_flags::SYN | tcp_flags::FIN));
        assert_eq!(
            parse_ipv4(&SliceReader(&p2)),
            Parsed::Invalid(Invalid::BadTcpFlags)
        );
        // Fragments: MF, and a non-zero offset.
        for (a, b) in [(0x20u8, 0u8), (0, 8)] {
            let mut f = p.clone();
            f[6] = a;
            f[7] = b;
            assert_eq!(
                parse_ipv4(&SliceReader(&f)),
                Parsed::Invalid(Invalid::Fragment)
            );
        }
        // Empty and tiny packets.
        assert_eq!(
            parse_ipv4(&SliceReader(&[])),
            Parsed::Invalid(Invalid::Truncated)
        );
        assert_eq!(
            parse_ipv4(&SliceReader(&p[..19])),
            Parsed::Invalid(Invalid::Truncated)
        );
    }

    #[test]
    fn udp_lengths() {
        let mut u = vec![0u8; 12];
        u[0..2].copy_from_slice(&53u16.to_be_bytes());
        u[2..4].copy_from_slice(&5353u16.to_be_bytes());
        u[4..6].copy_from_slice(&12u16.to_be_bytes());
        let p = ipv4(IPPROTO_UDP, &u);
        assert!(matches!(parse_ipv4(&SliceReader(&p)), Parsed::Track(..)));
        let mut bad = p.clone();
        bad[25] = 200;
        assert_eq!(
            parse_ipv4(&SliceReader(&bad)),
            Parsed::Invalid(Invalid::BadLength)
        );
        let mut bad = p.clone();
        bad[25] = 7;
        assert_eq!(
            parse_ipv4(&SliceReader(&bad)),
            Parsed::Invalid(Invalid::BadLength)
        );
    }

    /// A reader whose checksums never add up: TCP, UDP with a checksum,
    /// ICMP and ICMPv6 (neighbour discovery included) are invalid; UDP
    /// without one (0) and other protocols are not checked; a cut-off
    /// packet stays what it was (lengths come first, as in tcp_error()).
    #[test]
    fn bad_checksums() {
        struct Bad<'a>(&'a [u8]);
        impl PacketReader for Bad<'_> {
            fn len(&self) -> usize {
                self.0.len()
            }
            fn read(&self, off: usize, buf: &mut [u8]) -> bool {
                SliceReader(self.0).read(off, buf)
            }
            fn csum_ok(&self, _l3: u8, _off: usize, _l4: u8) -> bool {
                false
            }
        }
        let bad = |p: &[u8]| parse_ipv4(&Bad(p));
        let mut tcp = vec![0u8; 20];
        tcp[12] = 5 << 4;
        tcp[13] = tcp_flags::SYN;
        let p = ipv4(IPPROTO_TCP, &tcp);
        assert!(matches!(parse_ipv4(&SliceReader(&p)), Parsed::Track(..)));
        assert_eq!(bad(&p), Parsed::Invalid(Invalid::BadChecksum));
        let short = parse_ipv4(&SliceReader(&p[..30]));
        assert!(matches!(short, Parsed::Invalid(w) if w != Invalid::BadChecksum));
        assert_eq!(bad(&p[..30]), short);
        let mut u = vec![0u8; 12];
        u[4..6].copy_from_slice(&12u16.to_be_bytes());
        assert!(matches!(bad(&ipv4(IPPROTO_UDP, &u)), Parsed::Track(..)));
        u[6] = 1;
        assert_eq!(
            bad(&ipv4(IPPROTO_UDP, &u)),
            Parsed::Invalid(Invalid::BadChecksum)
        );
        let mut echo = vec![0u8; 12];
        echo[0] = ICMP_ECHO;
        assert_eq!(
            bad(&ipv4(IPPROTO_ICMP, &echo)),
            Parsed::Invalid(Invalid::BadChecksum)
        );
        assert!(matches!(bad(&ipv4(253, &u)), Parsed::Track(..)));
    }

    /// UDP-Lite (136) and unknown protocols are keyed by addresses alone,
    /// as nf_conntrack 7.3's generic tracker keys them (it has no UDP-Lite
    /// tracker); SCTP by its ports.
    #[test]
    fn generic_protocols_have_no_ports() {
        let mut u = vec![0u8; 20];
        u[0..2].copy_from_slice(&4000u16.to_be_bytes());
        u[2..4].copy_from_slice(&9000u16.to_be_bytes());
        for l4 in [136u8, 253] {
            let Parsed::Track(t, _) = parse_ipv4(&SliceReader(&ipv4(l4, &u))) else {
                panic!("protocol {l4} not tracked");
            };
            assert_eq!((t.l4, t.src_id, t.dst_id, t.has_ports()), (l4, 0, 0, false));
        }
        // SCTP: the common header, then an INIT chunk (20 bytes).
        let mut sctp = u[..12].to_vec();
        sctp[4..8].copy_from_slice(&[0; 4]);
        sctp.extend_from_slice(&[1, 0, 0, 20, 0xa, 0xb, 0xc, 0xd]);
        sctp.extend_from_slice(&[0; 12]);
        let Parsed::Track(t, seg) = parse_ipv4(&SliceReader(&ipv4(IPPROTO_SCTP, &sctp))) else {
            panic!("SCTP not tracked");
        };
        assert_eq!((t.src_id, t.dst_id), (4000, 9000));
        assert_eq!((seg.l4_off, seg.sctp_map, seg.vtag), (20, 1 << 1, 0));
        // Chunks of length 0 (the 20 bytes of zeros): invalid.
        assert_eq!(
            parse_ipv4(&SliceReader(&ipv4(IPPROTO_SCTP, &u))),
            Parsed::Invalid(Invalid::SctpChunks)
        );
    }

    #[test]
    fn icmp_echo_and_errors() {
        let echo = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        let p = ipv4(IPPROTO_ICMP, &echo);
        match parse_ipv4(&SliceReader(&p)) {
            Parsed::Track(t, _) => {
                assert_eq!(t.src_id, 0x1234);
                assert!(can_create(&t, 0));
                let r = t.invert();
                assert_eq!(r.dst_id >> 8, 0);
                assert_eq!(r.src_id, 0x1234);
                assert!(!can_create(&r, 0));
                assert_eq!(r.invert(), t);
            }
            other => panic!("{other:?}"),
        }
        // Port unreachable quoting a UDP packet 10.0.0.2:5353 ->
        // 10.0.0.1:4000 (so sent by 10.0.0.1, the outer source, back to
        // 10.0.0.2): related to the flow 10.0.0.1:4000 -> 10.0.0.2:5353.
        let mut quoted = vec![0u8; 8];
        quoted[0..2].copy_from_slice(&5353u16.to_be_bytes());
        quoted[2..4].copy_from_slice(&4000u16.to_be_bytes());
        quoted[4..6].copy_from_slice(&8u16.to_be_bytes());
        let mut inner = ipv4(IPPROTO_UDP, &quoted);
        inner[12..16].copy_from_slice(&[10, 0, 0, 2]);
        inner[16..20].copy_from_slice(&[10, 0, 0, 1]);
        let mut err = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&inner);
        match parse_ipv4(&SliceReader(&ipv4(IPPROTO_ICMP, &err))) {
            Parsed::Related(t, dst) => {
                assert_eq!((t.l4, t.src_id, t.dst_id), (IPPROTO_UDP, 4000, 5353));
                assert_eq!(
                    (&t.src[..4], &t.dst[..4]),
                    (&[10, 0, 0, 1][..], &[10, 0, 0, 2][..])
                );
                assert_eq!(&dst[..4], &[10, 0, 0, 2]);
            }
            other => panic!("{other:?}"),
        }
        // The quoted header cut short: invalid.
        let cut = &err[..8 + 20 + 4];
        assert_eq!(
            parse_ipv4(&SliceReader(&ipv4(IPPROTO_ICMP, cut))),
            Parsed::Invalid(Invalid::Truncated)
        );
        // An error about an error: never related.
        let mut inner = ipv4(IPPROTO_ICMP, &[3u8, 1, 0, 0, 0, 0, 0, 0]);
        inner[12..16].copy_from_slice(&[10, 0, 0, 2]);
        let mut err2 = vec![11u8, 0, 0, 0, 0, 0, 0, 0];
        err2.extend_from_slice(&inner);
        assert_eq!(
            parse_ipv4(&SliceReader(&ipv4(IPPROTO_ICMP, &err2))),
            Parsed::Invalid(Invalid::Unrelated)
        );
        // Not an error, not a query nf_conntrack tracks: invalid (router
        // advertisement, a type above 18), as nf_conntrack counts them.
        for ty in [9u8, 10, 19, 40] {
            let p = [ty, 0, 0, 0, 0, 0, 0, 0];
            assert_eq!(
                parse_ipv4(&SliceReader(&ipv4(IPPROTO_ICMP, &p))),
                Parsed::Invalid(Invalid::IcmpType),
                "type {ty}"
            );
        }
    }

    /// A redirect from a link-local router (hop limit 255) with a
    /// redirected-header option is an error about the packet it quotes;
    /// from a global address, with another hop limit, code or first
    /// option, or cut short, invalid.
    #[test]
    fn icmpv6_redirects() {
        // The quoted packet: fd00::1:4000 -> fd00::2:9000, UDP.
        let quoted = ipv6(IPPROTO_UDP, &[0x0f, 0xa0, 0x23, 0x28, 0, 16, 0, 0]);
        let mut msg = vec![137u8, 0, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[0; 32]);
        msg.extend_from_slice(&[4, 7, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(&quoted);
        let redirect = |msg: &[u8], hop: u8, src0: u8| {
            let mut p = ipv6(IPPROTO_ICMPV6, msg);
            p[7] = hop;
            p[8] = src0;
            p[9] = 0x80;
            parse_ipv6(&SliceReader(&p))
        };
        let Parsed::Related(t, dst) = redirect(&msg, 255, 0xfe) else {
            panic!("redirect not related");
        };
        assert_eq!((t.l4, t.src_id, t.dst_id), (IPPROTO_UDP, 9000, 4000));
        assert_eq!(dst[15], 2);
        let bad = Parsed::Invalid(Invalid::IcmpType);
        assert_eq!(redirect(&msg, 64, 0xfe), bad);
        assert_eq!(redirect(&msg, 255, 0xfd), bad);
        let mut code = msg.clone();
        code[1] = 1;
        assert_eq!(redirect(&code, 255, 0xfe), bad);
        let mut opt = msg.clone();
        opt[40] = 1;
        assert_eq!(redirect(&opt, 255, 0xfe), bad);
        assert_eq!(
            redirect(&msg[..30], 255, 0xfe),
            Parsed::Invalid(Invalid::Truncated)
        );
    }

    /// The queries nf_conntrack tracks besides echo (timestamp,
    /// information, address mask; ICMPv6 node information): tracked by
    /// identifier, inverted to their replies; only the query opens a
    /// connection. ICMPv6 MLD and neighbour discovery are ignored, other
    /// informational types invalid.
    #[test]
    fn icmp_queries() {
        for (q, r) in [(13u8, 14u8), (15, 16), (17, 18)] {
            let p = [q, 0, 0, 0, 0x12, 0x34, 0, 1];
            let Parsed::Track(t, _) = parse_ipv4(&SliceReader(&ipv4(IPPROTO_ICMP, &p))) else {
                panic!("type {q} not tracked");
            };
            assert_eq!((t.src_id, t.dst_id >> 8), (0x1234, u16::from(q)));
            assert_eq!(t.invert().dst_id >> 8, u16::from(r));
            assert!(can_create(&t, 0));
            assert!(!can_create(&t.invert(), 0));
        }
        let ni = [139u8, 0, 0, 0, 0, 7, 0, 1];
        let Parsed::Track(t, _) = parse_ipv6(&SliceReader(&ipv6(IPPROTO_ICMPV6, &ni))) else {
            panic!("node information query not tracked");
        };
        assert_eq!(t.invert().dst_id >> 8, 140);
        assert!(can_create(&t, 0));
        for (ty, want) in [
            (130u8, Parsed::Ignore),
            (135, Parsed::Ignore),
            (143, Parsed::Ignore),
            (141, Parsed::Invalid(Invalid::IcmpType)),
            (200, Parsed::Invalid(Invalid::IcmpType)),
        ] {
            let p = [ty, 0, 0, 0, 0, 0, 0, 0];
            assert_eq!(
                parse_ipv6(&SliceReader(&ipv6(IPPROTO_ICMPV6, &p))),
                want,
                "type {ty}"
            );
        }
    }

    fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.push(next);
        p.push(64);
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[15] = 1;
        p.extend_from_slice(&a);
        a[15] = 2;
        p.extend_from_slice(&a);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv6_ext_headers_and_fragments() {
        let p = ipv6(IPPROTO_TCP, &tcp(tcp_flags::SYN));
        assert!(matches!(parse_ipv6(&SliceReader(&p)), Parsed::Track(..)));
        // Destination options (8 bytes) then TCP.
        let mut pl = vec![IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0];
        pl.extend_from_slice(&tcp(tcp_flags::SYN));
        match parse_ipv6(&SliceReader(&ipv6(60, &pl))) {
            Parsed::Track(t, _) => {
                assert_eq!(t.l4, IPPROTO_TCP);
                assert_eq!(t.dst_id, 80);
            }
            other => panic!("{other:?}"),
        }
        // A real fragment.
        let mut fr = vec![IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 1];
        fr.extend_from_slice(&tcp(tcp_flags::SYN));
        assert_eq!(
            parse_ipv6(&SliceReader(&ipv6(44, &fr))),
            Parsed::Invalid(Invalid::Fragment)
        );
        // Payload length beyond the packet.
        let mut bad = p.clone();
        bad[5] = 100;
        assert_eq!(
            parse_ipv6(&SliceReader(&bad)),
            Parsed::Invalid(Invalid::BadLength)
        );
        // Neighbour solicitation is ignored, echo is tracked.
        let ns = [135u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            parse_ipv6(&SliceReader(&ipv6(IPPROTO_ICMPV6, &ns))),
            Parsed::Ignore
        );
        let echo = [128u8, 0, 0, 0, 0, 7, 0, 1];
        assert!(matches!(
            parse_ipv6(&SliceReader(&ipv6(IPPROTO_ICMPV6, &echo))),
            Parsed::Track(..)
        ));
        // Time exceeded quoting that echo (fd00::1 -> fd00::2): related to
        // the echo's connection, in the reply direction.
        let mut err = vec![3u8, 0, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&ipv6(IPPROTO_ICMPV6, &echo));
        match parse_ipv6(&SliceReader(&ipv6(IPPROTO_ICMPV6, &err))) {
            Parsed::Related(t, _) => {
                assert_eq!(t.l4, IPPROTO_ICMPV6);
                assert_eq!((t.src[15], t.dst[15]), (2, 1));
                assert_eq!((t.src_id, t.dst_id >> 8), (7, 129));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ext_header_loop_is_bounded() {
        let mut pl = Vec::new();
        for _ in 0..9 {
            pl.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        assert_eq!(
            parse_ipv6(&SliceReader(&ipv6(60, &pl))),
            Parsed::Invalid(Invalid::TooManyExtHeaders)
        );
    }

    // seq/ack/window, `end` counting payload, SYN and FIN, and the options
    // nf_conntrack reads (window scale capped to 14, SACK permitted, the
    // highest SACK right edge after the ACK); malformed options end the walk.
    #[test]
    fn tcp_segment_and_options() {
        let mut th = tcp(tcp_flags::SYN | tcp_flags::ACK);
        th[4..8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        th[8..12].copy_from_slice(&1000u32.to_be_bytes());
        th[14..16].copy_from_slice(&29200u16.to_be_bytes());
        // MSS, NOP, window scale 15 (capped), SACK permitted, NOP NOP,
        // SACK 2 blocks (right edges 1500 and 1200): 4+1+3+2+2+18 = 30,
        // padded to 32.
        let opts: [u8; 32] = [
            2, 4, 5, 0xb4, 1, 3, 3, 15, 4, 2, 1, 1, 5, 18, 0, 0, 4, 0, 0, 0, 5, 0xdc, 0, 0, 4, 0,
            0, 0, 4, 0xb0, 0, 0,
        ];
        th[12] = ((20 + 32) / 4) << 4;
        th.extend_from_slice(&opts);
        th.extend_from_slice(&[0u8; 10]); // payload
        let Parsed::Track(_, seg) = parse_ipv4(&SliceReader(&ipv4(IPPROTO_TCP, &th))) else {
            panic!("not tracked");
        };
        assert_eq!(seg.seq, 0xffff_fff0);
        assert_eq!(seg.ack, 1000);
        assert_eq!(seg.sack, 1500);
        assert_eq!(seg.win, 29200);
        // 10 bytes + SYN, wrapping.
        assert_eq!(seg.end, 0xffff_fff0u32.wrapping_add(11));
        assert_eq!(
            seg.opts,
            tcp_opts::PRESENT | tcp_opts::WINDOW_SCALE | tcp_opts::SACK_PERM
        );
        assert_eq!(seg.wscale, 14);
        // A SACK edge before the ACK is ignored; an option running past the
        // header ends the walk (nothing after it is read).
        let mut th = tcp(tcp_flags::ACK | tcp_flags::FIN);
        th[8..12].copy_from_slice(&5000u32.to_be_bytes());
        let opts: [u8; 12] = [5, 10, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 3, 9];
        th[12] = ((20 + 12) / 4) << 4;
        th.extend_from_slice(&opts);
        let Parsed::Track(_, seg) = parse_ipv4(&SliceReader(&ipv4(IPPROTO_TCP, &th))) else {
            panic!("not tracked");
        };
        assert_eq!(seg.sack, 5000);
        assert_eq!(seg.end, 1);
        assert_eq!(seg.opts, tcp_opts::PRESENT);
    }

    #[test]
    fn tcp_flag_validity() {
        use tcp_flags::*;
        assert!(tcp_flags_valid(SYN));
        assert!(tcp_flags_valid(SYN | ACK));
        assert!(tcp_flags_valid(ACK | PSH));
        assert!(tcp_flags_valid(FIN | ACK));
        assert!(tcp_flags_valid(RST));
        assert!(!tcp_flags_valid(0));
        assert!(!tcp_flags_valid(SYN | FIN));
        assert!(!tcp_flags_valid(SYN | RST));
        assert!(!tcp_flags_valid(FIN));
        // nf_conntrack's tcp_valid_flags: URG only with SYN, ACK, FIN|ACK.
        assert!(tcp_flags_valid(SYN | URG));
        assert!(tcp_flags_valid(ACK | URG | PSH));
        assert!(tcp_flags_valid(FIN | ACK | URG));
        assert!(!tcp_flags_valid(SYN | ACK | URG));
        assert!(!tcp_flags_valid(RST | URG));
        assert!(!tcp_flags_valid(RST | ACK | URG));
    }

    fn udp4(s: [u8; 4], d: [u8; 4], sp: u16, dp: u16) -> Tuple {
        let mut t = Tuple {
            src_id: sp,
            dst_id: dp,
            l3: NFPROTO_IPV4,
            l4: IPPROTO_UDP,
            ..Tuple::default()
        };
        t.src[..4].copy_from_slice(&s);
        t.dst[..4].copy_from_slice(&d);
        t
    }

    #[test]
    fn conn_plain_is_mirror() {
        let t = udp4([10, 1, 0, 1], [10, 2, 0, 2], 4000, 5000);
        let c = Conn::plain(&t);
        assert_eq!(c.orig(), t);
        assert_eq!(c.reply(None), t.invert());
        assert_eq!(c.out(None), c.orig());
        let mut t6 = t;
        t6.l3 = NFPROTO_IPV6;
        t6.src = [0xfd; 16];
        let c6 = Conn::plain(&t6);
        assert_eq!((c6.orig(), c6.reply(None)), (t6, t6.invert()));
        assert_eq!(Conn::new(&t6, &t6), Some((c6, None)));
    }

    // Masquerade: A:4000 -> B:5000 leaves as R:4001 -> B:5000; B answers
    // R:4001, which is the reply direction.
    #[test]
    fn conn_snat_and_dnat() {
        let orig = udp4([10, 1, 0, 1], [10, 2, 0, 2], 4000, 5000);
        let out = udp4([10, 2, 0, 254], [10, 2, 0, 2], 4001, 5000);
        let (c, tail) = Conn::new(&orig, &out).expect("IPv4 NAT fits");
        assert_eq!(tail, None);
        assert_eq!(c.orig(), orig);
        assert_eq!(c.out(None), out);
        assert_eq!(
            c.reply(None),
            udp4([10, 2, 0, 2], [10, 2, 0, 254], 5000, 4001)
        );
        // Port forward: B -> R:8080 leaves as B -> A:80.
        let orig = udp4([10, 2, 0, 2], [10, 2, 0, 254], 6000, 8080);
        let out = udp4([10, 2, 0, 2], [10, 1, 0, 1], 6000, 80);
        let (c, _) = Conn::new(&orig, &out).expect("fits");
        assert_eq!((c.orig(), c.reply(None)), (orig, out.invert()));
        // ICMP echo with a rewritten identifier.
        let mut e = udp4([10, 1, 0, 1], [10, 2, 0, 2], 77, u16::from(ICMP_ECHO) << 8);
        e.l4 = IPPROTO_ICMP;
        let mut eo = e;
        eo.src[..4].copy_from_slice(&[10, 2, 0, 254]);
        eo.src_id = 78;
        let (c, _) = Conn::new(&e, &eo).expect("fits");
        assert_eq!(c.reply(None).dst_id >> 8, u16::from(ICMP_ECHOREPLY));
        assert_eq!(c.reply(None).src_id, 78);
        assert_eq!(c.orig(), e);
    }

    /// A protocol change is refused; a rewritten IPv6 connection keeps
    /// the tuple it left with as its tail, an unrewritten one none.
    #[test]
    fn conn_ipv6_nat_tail() {
        let t = udp4([10, 1, 0, 1], [10, 2, 0, 2], 4000, 5000);
        let mut tcp = t;
        tcp.l4 = IPPROTO_TCP;
        assert_eq!(Conn::new(&t, &tcp), None);
        let mut t6 = t;
        t6.l3 = NFPROTO_IPV6;
        t6.src = [0xfd; 16];
        t6.dst = [0xfe; 16];
        assert_eq!(Conn::new(&t6, &t6), Some((Conn::plain(&t6), None)));
        // Masquerade: the source address and port rewritten.
        let mut o6 = t6;
        o6.src[15] = 0x77;
        o6.src_id = 4001;
        let (c, tail) = Conn::new(&t6, &o6).expect("IPv6 NAT");
        assert_eq!(tail, Some(o6));
        assert_eq!(c.orig(), t6);
        assert_eq!(c.out(tail.as_ref()), o6);
        assert_eq!(c.reply(tail.as_ref()), o6.invert());
        // Without its tail the same Conn is a mirror image.
        assert_eq!(c.reply(None), t6.invert());
        // DNAT: the destination rewritten.
        let mut d6 = t6;
        d6.dst[0] = 0x10;
        d6.dst_id = 80;
        let (c, tail) = Conn::new(&t6, &d6).expect("IPv6 NAT");
        assert_eq!((c.orig(), c.reply(tail.as_ref())), (t6, d6.invert()));
    }

    /// `is_dir()` answers exactly as `dir() ==` for every direction of
    /// plain, NATed (IPv4; IPv6 with its tail), ICMP and IPv6 connections,
    /// against their own tuples and against each one-field change of them.
    #[test]
    fn conn_is_dir_agrees_with_dir() {
        let a = udp4([10, 1, 0, 1], [10, 2, 0, 2], 4000, 5000);
        let snat = udp4([10, 2, 0, 254], [10, 2, 0, 2], 4001, 5000);
        let mut tcp = a;
        tcp.l4 = IPPROTO_TCP;
        let mut echo = udp4([10, 1, 0, 1], [10, 2, 0, 2], 77, u16::from(ICMP_ECHO) << 8);
        echo.l4 = IPPROTO_ICMP;
        let mut echo_out = echo;
        echo_out.src_id = 78;
        let mut v6 = a;
        v6.l3 = NFPROTO_IPV6;
        v6.src = [0xfd; 16];
        v6.dst = [0xfe; 16];
        v6.dst[15] = 2;
        let mut v6_out = v6;
        v6_out.src[15] = 0x77;
        v6_out.src_id = 4001;
        let mut echo6 = v6;
        echo6.l4 = IPPROTO_ICMPV6;
        echo6.dst_id = u16::from(ICMPV6_ECHO_REQUEST) << 8;
        let mut echo6_out = echo6;
        echo6_out.dst[0] = 0x10;
        let pair = |o: &Tuple, n: &Tuple| Conn::new(o, n).expect("same protocol");
        let conns = [
            (Conn::plain(&a), None),
            pair(&a, &snat),
            (Conn::plain(&tcp), None),
            pair(&echo, &echo_out),
            (Conn::plain(&v6), None),
            pair(&v6, &v6_out),
            pair(&echo6, &echo6_out),
        ];
        assert!(conns[5].1.is_some() && conns[6].1.is_some());
        let mut keys = Vec::new();
        for (c, tail) in &conns {
            for r in [false, true] {
                let k = c.dir(tail.as_ref(), r);
                keys.push(k);
                for i in 0..16 {
                    let mut m = k;
                    m.src[i] ^= 1;
                    keys.push(m);
                    let mut m = k;
                    m.dst[i] ^= 0x80;
                    keys.push(m);
                }
                for f in 0..4 {
                    let mut m = k;
                    match f {
                        0 => m.src_id ^= 1,
                        1 => m.dst_id ^= 0x100,
                        2 => m.l4 ^= 1,
                        _ => {
                            m.l3 = if m.l3 == NFPROTO_IPV4 {
                                NFPROTO_IPV6
                            } else {
                                NFPROTO_IPV4
                            }
                        }
                    }
                    keys.push(m);
                }
            }
        }
        let mut hits = 0;
        for (c, tail) in &conns {
            let tail = tail.as_ref();
            for r in [false, true] {
                for k in &keys {
                    let want = c.dir(tail, r) == *k;
                    assert_eq!(c.is_dir(tail, r, k), want, "{c:?} {tail:?} {r} {k:?}");
                    hits += usize::from(want);
                }
            }
        }
        // Each direction matches at least its own tuple.
        assert!(hits >= 2 * conns.len());
    }

    /// IPv4 hashes 4 words, IPv6 10; the words tell tuples apart.
    #[test]
    fn hash_words_by_family() {
        let a = udp4([10, 1, 0, 1], [10, 2, 0, 2], 4000, 5000);
        let (w, n) = a.hash_words();
        assert_eq!(n, 4);
        assert_eq!(
            &w[..n],
            &[
                u32::from_ne_bytes([10, 1, 0, 1]),
                u32::from_ne_bytes([10, 2, 0, 2]),
                4000 << 16 | 5000,
                u32::from(NFPROTO_IPV4) << 8 | u32::from(IPPROTO_UDP),
            ]
        );
        let mut v6 = a;
        v6.l3 = NFPROTO_IPV6;
        v6.dst[15] = 9;
        assert_eq!(a.hash_words4(), Some([w[0], w[1], w[2], w[3]]));
        assert_eq!(v6.hash_words4(), None);
        let (w6, n6) = v6.hash_words();
        assert_eq!(n6, 10);
        assert_eq!(w6[7], u32::from_ne_bytes([0, 0, 0, 9]));
        assert_eq!(w6[9], u32::from(NFPROTO_IPV6) << 8 | u32::from(IPPROTO_UDP));
    }

    /// A TCP GSO packet over a byte slice.
    struct Gso<'a>(&'a [u8]);

    impl PacketReader for Gso<'_> {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn read(&self, off: usize, buf: &mut [u8]) -> bool {
            SliceReader(self.0).read(off, buf)
        }
        fn gso_tcp(&self) -> bool {
            true
        }
    }

    // BIG TCP: a length field of 0 on a TCP GSO packet means the whole
    // packet; on any other packet it stays malformed.
    #[test]
    fn big_tcp_zero_length() {
        let mut p4 = ipv4(IPPROTO_TCP, &tcp(tcp_flags::ACK));
        p4[2] = 0;
        p4[3] = 0;
        assert!(matches!(
            parse_ipv4(&Gso(&p4)),
            Parsed::Track(
                _,
                Seg {
                    flags: tcp_flags::ACK,
                    ..
                }
            )
        ));
        assert!(matches!(
            parse_ipv4(&SliceReader(&p4)),
            Parsed::Invalid(Invalid::BadIhl)
        ));
        let mut p6 = ipv6(IPPROTO_TCP, &tcp(tcp_flags::ACK));
        p6[4] = 0;
        p6[5] = 0;
        assert!(matches!(
            parse_ipv6(&Gso(&p6)),
            Parsed::Track(
                _,
                Seg {
                    flags: tcp_flags::ACK,
                    ..
                }
            )
        ));
        assert!(matches!(parse_ipv6(&SliceReader(&p6)), Parsed::Invalid(_)));
    }
}
