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
    /// Wraps the `sk_buff` a hook was called with.
    ///
    /// # Safety
    ///
    /// `skb` must be valid and not freed for the lifetime of the result (a
    /// hook's argument is valid until the hook returns).
    pub(crate) unsafe fn from_raw(skb: *const bindings::sk_buff) -> Self {
        // SAFETY: `skb` is valid per the function's safety requirement.
        let (base, total) = unsafe {
            (
                glue::rct_skb_network_offset(skb),
                glue::rct_skb_len(skb) as usize,
            )
        };
        let len = total.saturating_sub(base.max(0) as usize);
        // INVARIANT: offsets computed from the skb itself.
        Skb {
            skb,
            base,
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

impl PacketReader for Skb<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn gso_tcp(&self) -> bool {
        // SAFETY: `skb` is valid per the invariant.
        unsafe { glue::rct_skb_is_gso_tcp(self.skb) }
    }

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
        // SAFETY: `skb` is valid per the invariant; `skb_header_pointer()`
        // bounds-checks against the packet and copies into `buf`, which is
        // `buf.len()` bytes long.
        unsafe {
            glue::rct_skb_copy(
                self.skb,
                self.base + off,
                buf.len() as i32,
                buf.as_mut_ptr().cast(),
            )
        }
    }
}
