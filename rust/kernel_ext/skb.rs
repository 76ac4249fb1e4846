// SPDX-License-Identifier: GPL-2.0

//! Read-only access to a socket buffer with `skb_header_pointer()` semantics.

use super::glue;
use crate::tuple::PacketReader;
use core::marker::PhantomData;
use kernel::bindings;

/// A packet seen by a netfilter hook, read from its network header.
///
/// # Invariants
///
/// `skb` points to a valid `sk_buff` for `'a`, and `base`/`len` describe the
/// bytes from its network header to its end.
pub(crate) struct Skb<'a> {
    skb: *const bindings::sk_buff,
    base: i32,
    len: usize,
    _p: PhantomData<&'a bindings::sk_buff>,
}

impl Skb<'_> {
    /// Wraps the `sk_buff` a hook was called with, whose network header is
    /// at `net_off` and whose length is `len` (`rct_hook_args()`).
    ///
    /// # Safety
    ///
    /// `skb` must be valid and not freed for the lifetime of the result (a
    /// hook's argument is valid until the hook returns), and `net_off` and
    /// `len` must be its `skb_network_offset()` and `skb->len`.
    pub(crate) unsafe fn from_raw(skb: *const bindings::sk_buff, net_off: i32, len: u32) -> Self {
        let len = (len as usize).saturating_sub(net_off.max(0) as usize);
        // INVARIANT: offsets of the skb itself, per the safety section.
        Skb {
            skb,
            base: net_off,
            len,
            _p: PhantomData,
        }
    }
}

impl Skb<'_> {
    /// The packet's address, as a number: the same `sk_buff` at two hooks
    /// gives the same value (a freed one's may be reused).
    pub(crate) fn id(&self) -> usize {
        self.skb as usize
    }
}

/// A [`Skb`] whose transport checksums the parser verifies
/// ([`PacketReader::csum_ok`]), for the hook where packets enter: a packet
/// made here or already checked on the way has its checksum state set,
/// and the check costs nothing then.
pub(crate) struct CsumSkb<'s, 'a>(pub(crate) &'s Skb<'a>);

impl PacketReader for CsumSkb<'_, '_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len
    }

    fn gso_tcp(&self) -> bool {
        self.0.gso_tcp()
    }

    #[inline(always)]
    fn read(&self, off: usize, buf: &mut [u8]) -> bool {
        self.0.read(off, buf)
    }

    fn csum_ok(&self, l3: u8, off: usize, l4: u8) -> bool {
        if off > self.0.len {
            return false;
        }
        let Some(off) = i32::try_from(off)
            .ok()
            .and_then(|o| o.checked_add(self.0.base))
            .and_then(|o| u32::try_from(o).ok())
        else {
            return false;
        };
        // SAFETY: `skb` is valid per the invariant, and the hook that was
        // handed it may update its checksum state (`ip_summed`, `csum`),
        // as nf_conntrack's check does on the same packet; `off` is inside
        // the packet, from `skb->data` (the network header is at `base`).
        unsafe { glue::rct_skb_csum_ok(self.0.skb.cast_mut(), off, l4, l3) }
    }
}

impl PacketReader for Skb<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn gso_tcp(&self) -> bool {
        // SAFETY: `skb` is valid per the invariant.
        unsafe { glue::rct_skb_is_gso_tcp(self.skb) }
    }

    // Inlined: the parser reads fixed-size headers, so the copy below
    // becomes a few moves instead of a call to memcpy.
    #[inline(always)]
    fn read(&self, off: usize, buf: &mut [u8]) -> bool {
        let end = match off.checked_add(buf.len()) {
            Some(e) => e,
            None => return false,
        };
        if end > self.len || buf.len() > i32::MAX as usize {
            return false;
        }
        let Ok(off) = i32::try_from(off) else {
            return false;
        };
        let n = buf.len();
        // SAFETY: `skb` is valid per the invariant; `skb_header_pointer()`
        // bounds-checks against the packet and returns either `n` bytes of
        // its linear area or `buf` (`n` bytes long) with the bytes copied
        // in, or null.
        let p = unsafe {
            glue::rct_skb_header(self.skb, self.base + off, n as i32, buf.as_mut_ptr().cast())
        };
        if p.is_null() {
            return false;
        }
        if p != buf.as_ptr().cast() {
            // SAFETY: `p` points to `n` readable bytes of the packet's
            // linear area, which nothing writes while a hook runs on it,
            // and `buf` is a distinct, writable buffer of `n` bytes. The
            // length is usually a constant after inlining: no memcpy call.
            unsafe { core::ptr::copy_nonoverlapping(p.cast::<u8>(), buf.as_mut_ptr(), n) };
        }
        true
    }
}
