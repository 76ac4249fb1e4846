// SPDX-License-Identifier: GPL-2.0

//! Table size defaults and the ceiling on `max`, derived from the memory that
//! can actually hold entries.
//!
//! Pure logic (no `kernel` crate), unit tested on the host.
//!
//! nf_conntrack (`nf_conntrack_init_start`) sizes its table from *all* RAM:
//!
//! ```text
//! buckets = RAM / 16384 / sizeof(hlist_head)   (min 1024)
//!           65536 if RAM > 1 GiB, 262144 if RAM > 4 GiB on 64-bit
//! max     = buckets
//! ```
//!
//! On 32-bit with HIGHMEM, entries come from slab in the ~896 MiB linear map
//! whatever the RAM size, so a default (or a raised `max`) computed from RAM
//! can exhaust lowmem. rconntrack applies the same formula to *lowmem*
//! (RAM minus highmem; all RAM on 64-bit), and bounds `max` by a share of
//! lowmem: `max * entry_size <= lowmem * max_lowmem_percent / 100`.
//!
//! | guest          | lowmem  | buckets | max   |
//! |----------------|---------|---------|-------|
//! | i386, 512 MiB  | 512 MiB | 8192    | 8192  |
//! | i386, 3 GiB    | 873 MiB | 13968   | 13968 |
//! | x86_64, 512 MiB| 512 MiB | 4096    | 4096  |
//! | x86_64, 4 GiB  | 4 GiB   | 65536   | 65536 |
//!
//! (the bucket pointer is 4 bytes on i386 and 8 on x86_64; the README keeps
//! the measured values.)

/// Default share of lowmem that entries may occupy.
///
/// 10% leaves the other 90% of the linear map to what must live there too
/// (page tables, socket buffers, dentries, inodes, the rest of slab), while
/// allowing about 100 times nf_conntrack's default table size.
pub const DEFAULT_MAX_LOWMEM_PERCENT: u32 = 10;

/// Smallest bucket count.
pub const MIN_BUCKETS: u32 = 1024;

/// Largest bucket count accepted (the array is kvmalloc'd).
pub const MAX_BUCKETS: u32 = 1 << 22;

/// Default bucket count for `lowmem_mib` MiB of lowmem with pointer-sized
/// bucket heads (`ptr_size` bytes).
///
/// All arithmetic is 32-bit: 64-bit division must not appear in the module
/// on i386 (there is no `__udivdi3` for it).
pub fn default_buckets(lowmem_mib: u32, ptr_size: u32, is_64bit: bool) -> u32 {
    // RAM / 16384 / sizeof(pointer), with RAM in MiB: MiB * 64 / ptr.
    let b = if is_64bit && lowmem_mib > 4096 {
        262144
    } else if lowmem_mib > 1024 {
        65536
    } else {
        lowmem_mib.saturating_mul(64) / ptr_size.max(1)
    };
    b.clamp(MIN_BUCKETS, MAX_BUCKETS)
}

/// The largest `max` whose entries (`entry_size` bytes each) fit in
/// `percent`% of `lowmem_kib` KiB of lowmem.
pub fn max_ceiling(lowmem_kib: u32, entry_size: u32, percent: u32) -> u32 {
    if entry_size == 0 {
        return 0;
    }
    let budget_kib = lowmem_kib / 100 * percent.min(100);
    let whole = budget_kib / entry_size;
    if whole >= (i32::MAX as u32) >> 10 {
        return i32::MAX as u32;
    }
    whole * 1024 + (budget_kib % entry_size) * 1024 / entry_size
}

/// The default `max`: one entry per bucket, as nf_conntrack, but never above
/// the ceiling.
pub fn default_max(buckets: u32, ceiling: u32) -> u32 {
    buckets.min(ceiling).max(1)
}

/// The longest pause between two garbage-collection sweeps, in seconds
/// (nf_conntrack's `GC_SCAN_INTERVAL_MAX`).
pub const GC_MAX_PAUSE_SECS: u32 = 60;

/// The pause after a full garbage-collection sweep, in seconds, as
/// nf_conntrack's gc_worker: the average time the `live` entries had left
/// (`left_secs`, each counted up to [`GC_MAX_PAUSE_SECS`]), at most the
/// shortest non-zero timeout in force (`timeouts`, seconds; zero is a
/// timeout no entry uses, TCP's NONE state), between 1 s and
/// [`GC_MAX_PAUSE_SECS`]. An empty table waits the shortest timeout in
/// force (capped at [`GC_MAX_PAUSE_SECS`]).
pub fn gc_pause_secs(live: u32, left_secs: u32, timeouts: impl Iterator<Item = u32>) -> u32 {
    let avg = left_secs.checked_div(live).unwrap_or(GC_MAX_PAUSE_SECS);
    let shortest = timeouts.filter(|&t| t > 0).min().unwrap_or(1);
    avg.min(shortest).clamp(1, GC_MAX_PAUSE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i386_uses_lowmem() {
        // 3 GiB i386 guest: only ~873 MiB lowmem.
        assert_eq!(default_buckets(873, 4, false), 13968);
        // nf_conntrack would have used 65536 from 3 GiB of RAM.
        assert_eq!(default_buckets(3072, 4, false), 65536);
        assert_eq!(default_buckets(512, 4, false), 8192);
    }

    #[test]
    fn x86_64_defaults() {
        assert_eq!(default_buckets(512, 8, true), 4096);
        assert_eq!(default_buckets(4096, 8, true), 65536);
        assert_eq!(default_buckets(8192, 8, true), 262144);
        assert_eq!(default_buckets(16, 8, true), MIN_BUCKETS);
    }

    #[test]
    fn gc_pause() {
        // nf_conntrack's TCP timeouts: NONE is 0 and must not count.
        let nf = [
            0, 120, 60, 432000, 120, 60, 30, 120, 10, 120, 300, 300, 30, 30, 600,
        ];
        // 1M entries with 600 s left: the shortest timeout, TCP CLOSE's 10 s.
        assert_eq!(gc_pause_secs(1_000_000, 60_000_000, nf.iter().copied()), 10);
        // Entries about to expire: 1 s.
        assert_eq!(gc_pause_secs(1000, 200, nf.iter().copied()), 1);
        // Empty table: the shortest timeout.
        assert_eq!(gc_pause_secs(0, 0, nf.iter().copied()), 10);
        // Every timeout long: 60 s at most.
        assert_eq!(gc_pause_secs(10, 600, [0, 3600, 600].into_iter()), 60);
        // Short timeouts (a test's 2 s): 2 s.
        assert_eq!(gc_pause_secs(10, 600, [2, 2, 0].into_iter()), 2);
        assert_eq!(gc_pause_secs(10, 600, core::iter::empty()), 1);
    }

    #[test]
    fn ceiling() {
        // 873 MiB lowmem, 128-byte entries, 10%.
        let kib = 873 * 1024;
        let c = max_ceiling(kib, 128, 10);
        let exact = (kib as u64 / 100 * 10 * 1024 / 128) as u32;
        assert_eq!(c, exact);
        assert!(c as u64 * 128 <= kib as u64 * 1024 / 10);
        assert_eq!(max_ceiling(kib, 0, 10), 0);
        assert_eq!(max_ceiling(u32::MAX, 1, 100), i32::MAX as u32);
        assert_eq!(
            max_ceiling(kib, 96, 10),
            (kib as u64 / 100 * 10 * 1024 / 96) as u32
        );
        assert_eq!(default_max(13968, c), 13968);
        assert_eq!(default_max(13968, 100), 100);
    }
}
