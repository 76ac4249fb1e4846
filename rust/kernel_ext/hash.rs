// SPDX-License-Identifier: GPL-2.0

//! Keyed hashing of tuples (hsiphash with a random per-boot key).

use kernel::bindings;

/// A random hsiphash key, drawn once at module load.
pub(crate) struct HashKey(bindings::hsiphash_key_t);

// SAFETY: the key is immutable after creation.
unsafe impl Sync for HashKey {}
// SAFETY: as above.
unsafe impl Send for HashKey {}

impl HashKey {
    /// Draws a key from the kernel's CRNG.
    pub(crate) fn random() -> Self {
        let mut key = bindings::hsiphash_key_t { key: [0; 2] };
        // SAFETY: `key` is a valid, writable buffer of the given size.
        unsafe {
            bindings::get_random_bytes(
                core::ptr::addr_of_mut!(key).cast(),
                core::mem::size_of::<bindings::hsiphash_key_t>(),
            )
        };
        HashKey(key)
    }

    /// A fixed key (tests that must predict bucket collisions).
    pub(crate) fn fixed(k: [u32; 2]) -> Self {
        let mut key = bindings::hsiphash_key_t { key: [0; 2] };
        for (d, s) in key.key.iter_mut().zip(k) {
            *d = s as usize;
        }
        HashKey(key)
    }

    /// hsiphash of four words under this key with `salt` folded into it
    /// (`hsiphash_4u32()`: no length switch, no tail): a key per salt,
    /// still secret, so salts keep equal words in different buckets.
    #[inline]
    pub(crate) fn hash4_salted(&self, w: [u32; 4], salt: u32) -> u32 {
        let mut key = bindings::hsiphash_key_t { key: self.0.key };
        key.key[0] ^= salt as usize;
        // SAFETY: `key` is a valid key; the words are passed by value.
        unsafe { bindings::hsiphash_4u32(w[0], w[1], w[2], w[3], &key) }
    }

    /// hsiphash of `words`.
    pub(crate) fn hash(&self, words: &[u32]) -> u32 {
        // SAFETY: `words` is a valid buffer of `size_of_val(words)` bytes
        // and the key is valid.
        unsafe {
            super::glue::rct_hsiphash(
                words.as_ptr().cast(),
                core::mem::size_of_val(words),
                &self.0,
            )
        }
    }
}
