// SPDX-License-Identifier: GPL-2.0

//! KUnit tests run when the module loads in a KUnit-enabled kernel (both test
//! guests): the pure logic in kernel context, and the i386 ABI assumptions.

#[kernel::macros::kunit_tests(rconntrack)]
mod tests {
    use crate::kernel_ext::hash::HashKey;
    use crate::kernel_ext::table::{self, InsertError, Owner, Table, TableKey};
    use crate::limits;
    use crate::proto::{self, status, Dir, TcpState};
    use crate::tuple::{self, SliceReader, Tuple};
    use core::sync::atomic::{AtomicU32, Ordering};
    use kernel::bindings;
    use kernel::prelude::*;
    use kernel::sync::{rcu, Arc};

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
        if let tuple::Parsed::Track(t, seg) = parsed {
            assert_eq!(t.src_id, 1234);
            assert_eq!(t.invert().invert(), t);
            let cfg = proto::DEFAULT_TCP_CFG;
            let (st, mut w, _) = proto::tcp_first(&seg, &cfg, |_| 60).unwrap();
            assert_eq!(st & status::TCP_STATE_MASK, TcpState::SynSent as u32);
            let synack = tuple::Seg {
                flags: 0x12,
                ack: 1,
                sack: 1,
                win: 100,
                end: 1,
                ..tuple::Seg::default()
            };
            let u = proto::tcp_packet(st, &mut w, Dir::Reply, &synack, &cfg, |_| 60);
            assert!(!u.invalid);
            assert_eq!(u.status & status::TCP_STATE_MASK, TcpState::SynRecv as u32);
        }
        // Truncated header: invalid, never a tuple.
        assert!(matches!(
            tuple::parse_ipv4(&SliceReader(&p[..30])),
            tuple::Parsed::Invalid(_)
        ));
    }

    /// A key for table tests: (a, b), reversed (b, a).
    #[derive(Clone, Copy, PartialEq)]
    struct K(u32, u32);

    /// A tail replaces the reply direction's first half: (a, b) with tail
    /// t is found as (a, b) and (t, a).
    impl TableKey for K {
        type Dir = K;
        type Tail = u32;
        type Ext = ();
        fn dir(&self, tail: Option<&u32>, reply: bool) -> K {
            if reply {
                K(*tail.unwrap_or(&self.1), self.0)
            } else {
                *self
            }
        }
        fn hash(d: &K, key: &HashKey, salt: u32) -> u32 {
            key.hash(&[d.0, d.1, salt])
        }
    }

    fn owner(id: u32) -> Arc<Owner> {
        Arc::new(
            Owner {
                id,
                count: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )
        .expect("owner")
    }

    /// Packet-path allocations never dip into the emergency reserves and
    /// never sleep or warn.
    #[test]
    fn entry_gfp_flags() {
        let g = table::GFP_PACKET;
        assert!(g & (1 << bindings::___GFP_NOMEMALLOC_BIT) != 0);
        assert!(g & bindings::__GFP_NOWARN != 0);
        assert!(g & (1 << bindings::___GFP_DIRECT_RECLAIM_BIT) == 0);
        assert!(g & (1 << bindings::___GFP_HIGH_BIT) != 0);
    }

    /// Inserts refuse a second entry for the same key, in either direction;
    /// removals refuse entries that are not (or no longer) in the table.
    #[test]
    fn table_clash_and_remove_contract() {
        let Ok(t) = Table::<K>::new([c"rct_kunit_a", c"rct_kunit_a_wide"], 1024, 4, Some([1, 2]))
        else {
            panic!("table");
        };
        let Ok(u) = Table::<K>::new([c"rct_kunit_b", c"rct_kunit_b_wide"], 1024, 4, None) else {
            panic!("table");
        };
        let o = owner(7);
        let a = t.alloc(&o, K(1, 2), None, 0, 0, 10, 10).expect("alloc");
        // Not inserted yet: refused, and its drop below frees it once.
        assert!(!t.remove(a.entry()));
        assert!(t.insert(a).is_ok());
        assert_eq!(t.count(), 1);
        let dup = t.alloc(&o, K(1, 2), None, 0, 0, 10, 10).expect("alloc");
        assert_eq!(o.count.load(Ordering::Relaxed), 2);
        assert_eq!(t.insert(dup), Err(InsertError::Clash));
        assert_eq!(o.count.load(Ordering::Relaxed), 1);
        let rev = t.alloc(&o, K(2, 1), None, 0, 0, 10, 10).expect("alloc");
        assert_eq!(t.insert(rev), Err(InsertError::Clash));
        assert_eq!(t.count(), 1);
        // An entry allocated from another table is refused by this one.
        let foreign = u.alloc(&o, K(3, 4), None, 0, 0, 10, 10).expect("alloc");
        assert_eq!(t.insert(foreign), Err(InsertError::Foreign));
        assert_eq!(u.count(), 0);
        let g = rcu::read_lock();
        let mut restarts = 0;
        let f = t.lookup(&g, &o, &K(2, 1), &mut restarts).expect("found");
        assert!(f.reply);
        assert!(!u.remove(f.entry));
        assert!(t.remove(f.entry));
        assert!(!t.remove(f.entry));
        drop(g);
        assert_eq!(t.count(), 0);
        assert_eq!(o.count.load(Ordering::Relaxed), 0);
    }

    /// Each owner is held to its own limit, the table to its own; a refused
    /// or dropped reservation leaves both counts as they were.
    #[test]
    fn table_owner_and_table_limits() {
        let Ok(t) = Table::<K>::new([c"rct_kunit_d", c"rct_kunit_d_wide"], 1024, 4, None) else {
            panic!("table");
        };
        let (o, p) = (owner(9), owner(10));
        for i in 0..2 {
            let e = t.alloc(&o, K(i, 100), None, 0, 0, 2, 3).expect("alloc");
            assert!(t.insert(e).is_ok());
        }
        assert!(matches!(
            t.alloc(&o, K(5, 100), None, 0, 0, 2, 3),
            Err(table::AllocError::OwnerFull)
        ));
        // Another owner is not held to the first one's count.
        let e = t.alloc(&p, K(6, 100), None, 0, 0, 2, 3).expect("alloc");
        assert!(matches!(
            t.alloc(&p, K(7, 100), None, 0, 0, 2, 3),
            Err(table::AllocError::TableFull)
        ));
        assert_eq!(p.count.load(Ordering::Relaxed), 1);
        drop(e);
        assert_eq!(
            (
                t.count(),
                o.count.load(Ordering::Relaxed),
                p.count.load(Ordering::Relaxed)
            ),
            (2, 2, 0)
        );
        let g = rcu::read_lock();
        let mut restarts = 0;
        for i in 0..2 {
            let f = t.lookup(&g, &o, &K(i, 100), &mut restarts).expect("found");
            assert!(t.remove(f.entry));
        }
        drop(g);
        assert_eq!((t.count(), o.count.load(Ordering::Relaxed)), (0, 0));
    }

    /// Entries with a key tail come from the wide cache, are found by the
    /// tail's key (and not the tail-less one), across a resize, and leave
    /// the wide count as they found it, inserted or not.
    #[test]
    fn table_wide_entries() {
        let Ok(t) = Table::<K>::new([c"rct_kunit_e", c"rct_kunit_e_wide"], 1024, 4, None) else {
            panic!("table");
        };
        assert!(t.wide_object_size() >= t.object_size() + 4);
        let o = owner(11);
        let w = t.alloc(&o, K(1, 2), Some(9), 0, 0, 10, 10).expect("alloc");
        assert_eq!(w.entry().tail(), Some(&9));
        assert_eq!(t.wide_count(), 1);
        drop(w);
        assert_eq!((t.count(), t.wide_count()), (0, 0));
        for i in 0..50 {
            let w = t
                .alloc(&o, K(i, 1000), Some(100 + i), 0, 0, 100, 100)
                .expect("alloc");
            assert!(t.insert(w).is_ok());
            let n = t
                .alloc(&o, K(i, 2000), None, 0, 0, 100, 100)
                .expect("alloc");
            assert_eq!(n.entry().tail(), None);
            assert!(t.insert(n).is_ok());
        }
        assert_eq!((t.count(), t.wide_count()), (100, 50));
        // A clash on the tail's key is refused.
        let c = t.alloc(&o, K(105, 5), None, 0, 0, 200, 200).expect("alloc");
        assert_eq!(t.insert(c), Err(InsertError::Clash));
        assert!(t.resize(2048).is_ok());
        let g = rcu::read_lock();
        let mut restarts = 0;
        for i in 0..50 {
            let f = t
                .lookup(&g, &o, &K(100 + i, i), &mut restarts)
                .expect("tail key");
            assert!(f.reply);
            assert_eq!(f.entry.key_of(true), K(100 + i, i));
            assert!(t.lookup(&g, &o, &K(1000, i), &mut restarts).is_none());
            assert!(t.lookup(&g, &o, &K(2000, i), &mut restarts).is_some());
        }
        for i in 0..50 {
            let f = t.lookup(&g, &o, &K(i, 1000), &mut restarts).expect("orig");
            assert!(t.remove(f.entry));
        }
        drop(g);
        assert_eq!((t.count(), t.wide_count()), (50, 0));
    }

    /// A lock-free miss is final only on its own bucket's marker with the
    /// generation unchanged: a resize that ran during the walk (the
    /// generation moved by 2, or is odd: one is running) or a walk carried
    /// onto another chain restarts the lookup. A resize overtaking a walk
    /// is too rare to provoke in a guest, so the decision is tested here.
    #[test]
    fn lockless_miss_is_final_only_without_resize() {
        let m = table::nulls_marker(7);
        assert!(table::miss_is_final(m, 7, 4, 4));
        assert!(!table::miss_is_final(m, 7, 4, 6));
        assert!(!table::miss_is_final(m, 7, 4, 5));
        assert!(!table::miss_is_final(table::nulls_marker(8), 7, 4, 4));
    }

    /// With no lock-free attempt left, the locked walk still finds entries
    /// (the path lookups take when resizes keep overtaking them).
    #[test]
    fn table_locked_lookup() {
        let Ok(t) = Table::<K>::new([c"rct_kunit_c", c"rct_kunit_c_wide"], 1024, 4, None) else {
            panic!("table");
        };
        let t = t.with_lockless_tries(0);
        let o = owner(8);
        for i in 0..100 {
            let e = t
                .alloc(&o, K(i, 1000 + i), None, 0, 0, 1000, 1000)
                .expect("alloc");
            assert!(t.insert(e).is_ok());
        }
        assert!(t.resize(2048).is_ok());
        let g = rcu::read_lock();
        let mut restarts = 0;
        for i in 0..100 {
            assert!(t.lookup(&g, &o, &K(i, 1000 + i), &mut restarts).is_some());
            assert!(t.lookup(&g, &o, &K(1000 + i, i), &mut restarts).is_some());
        }
        assert!(t.lookup(&g, &o, &K(5000, 1), &mut restarts).is_none());
        assert_eq!(restarts, 0);
    }

    /// A note is taken once, by its own tag only. The test task may
    /// migrate between `put` and `take` (the miss the tracker falls back
    /// from), so it counts hits and requires most pairs to meet.
    #[test]
    fn percpu_note_tagged_once() {
        use crate::kernel_ext::percpu::PerCpuNote;
        let n = PerCpuNote::<(u32, [u8; 40])>::new().expect("percpu");
        n.put(0, (1, [1; 40]));
        assert_eq!(n.take(0), None);
        let mut hits = 0;
        for i in 1..=10usize {
            let tag = i * 0x1000;
            let v = (i as u32, [i as u8; 40]);
            n.put(tag, v);
            // Another tag never matches, and does not empty the slot.
            assert_eq!(n.take(tag + 8), None);
            if let Some(got) = n.take(tag) {
                assert_eq!(got, v);
                assert_eq!(n.take(tag), None);
                hits += 1;
            }
        }
        assert!(hits >= 5);
    }

    #[test]
    fn limits_are_32bit_safe() {
        assert_eq!(limits::default_buckets(873, 4, false), 13968);
        assert_eq!(limits::max_ceiling(873 * 1024, 72, 10), 1271324);
        let t = Tuple::default();
        assert_eq!(t.hash_words().1, 10);
    }
}
