// SPDX-License-Identifier: GPL-2.0

//! KUnit tests run when the module loads in a KUnit-enabled kernel (both test
//! guests): the pure logic in kernel context, and the i386 ABI assumptions.

#[kernel::macros::kunit_tests(rconntrack)]
mod tests {
    use crate::limits;
    use crate::proto::{self, status, Dir, TcpState};
    use crate::tuple::{self, SliceReader, Tuple};
    use kernel::prelude::*;

    /// u64 formatting goes through core's 64-bit division, which on i386
    /// needs the kernel patch's working `__udivdi3`/`__umoddi3`.
    #[test]
    fn u64_formatting() {
        let s = kernel::str::CString::try_from_fmt(fmt!("{} {}", u64::MAX, 1_000_000_007u64 * 3));
        assert!(s.is_ok());
        if let Ok(s) = s {
            assert_eq!(s.to_bytes(), b"18446744073709551615 3000000021");
        }
    }

    #[test]
    fn tcp_syn_parses_and_inverts() {
        let mut p = [0u8; 40];
        p[0] = 0x45;
        p[3] = 40;
        p[8] = 64;
        p[9] = tuple::IPPROTO_TCP;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = tuple::tcp_flags::SYN;
        let parsed = tuple::parse_ipv4(&SliceReader(&p));
        assert!(matches!(parsed, tuple::Parsed::Track(..)));
        if let tuple::Parsed::Track(t, f) = parsed {
            assert_eq!(t.src_id, 1234);
            assert_eq!(t.invert().invert(), t);
            let st = proto::initial_status(&t, f);
            assert_eq!(st & status::TCP_STATE_MASK, TcpState::SynSent as u32);
            let u = proto::update(&t, st, Dir::Reply, 0x12);
            assert_eq!(u.status & status::TCP_STATE_MASK, TcpState::SynRecv as u32);
        }
        // Truncated header: invalid, never a tuple.
        assert!(matches!(
            tuple::parse_ipv4(&SliceReader(&p[..30])),
            tuple::Parsed::Invalid(_)
        ));
    }

    #[test]
    fn limits_are_32bit_safe() {
        assert_eq!(limits::default_buckets(873, 4, false), 13968);
        assert_eq!(limits::max_ceiling(873 * 1024, 72, 10), 1271324);
        let t = Tuple::default();
        assert_eq!(t.hash_words().len(), 10);
    }
}
