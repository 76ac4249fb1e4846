// SPDX-License-Identifier: GPL-2.0

//! Calling-convention tests, run at module load with the other KUnit tests:
//! Rust calls the `rct_abi_*` probes of `rconntrack_glue.c` with each
//! argument shape, and they record the 32-bit words C received; C calls Rust
//! back through function pointers.
//!
//! On x86_64 every shape must arrive intact. On i386 the kernel is built with
//! `-mregparm=3` and rustc with `-Zregparm=3`, which marks only arguments of
//! 32 bits or less `inreg` (rust-lang/rust#145694): C passes the first three
//! 32-bit words in EAX, EDX, ECX (a `u64` in two of them, a struct of up to
//! 12 bytes in as many as it needs), rustc puts a `u64` on the stack (still
//! counting the two registers it would use, as C does) and a struct on the
//! stack (counting none). The `i386_*_still_broken` tests assert what C
//! receives today on i386, so a rustc that fixes the bug fails them: then
//! rewrite them as plain checks, and relax `qemu/abi-lint.sh`.
//!
//! The probes only read their parameters, so a mismatch makes them read a
//! stale register or the caller's stack, nothing worse. The one shape that
//! would write through a wrong pointer, a struct returned through memory, is
//! compiled out on i386 (see `large_struct_return`).
//!
//! Unlike the rest of the module these tests call C directly, `unsafe`
//! included: the FFI calls are what they test.

#[kernel::macros::kunit_tests(rconntrack_abi)]
mod tests {
    use crate::kernel_ext::glue::{self, AbiPair, AbiSix};
    use core::sync::atomic::{AtomicU32, Ordering};

    /// i386, where rustc passes u64 and struct arguments unlike C.
    const I386: bool = cfg!(CONFIG_X86_32);

    /// The checksum the probes return: `rct_abi_record()` in C.
    fn sum(w: &[u32]) -> u64 {
        w.iter()
            .fold(0u64, |s, &x| s.wrapping_mul(31).wrapping_add(u64::from(x)))
    }

    /// The words the last probe received.
    fn seen() -> [u32; 8] {
        // SAFETY: `rct_abi_seen` returns a static array of `RCT_ABI_WORDS`
        // (8) words, written only by the probes, which only these tests call,
        // one at a time.
        unsafe { glue::rct_abi_seen().cast::<[u32; 8]>().read() }
    }

    fn lo(x: u64) -> u32 {
        x as u32
    }

    fn hi(x: u64) -> u32 {
        (x >> 32) as u32
    }

    /// Four `u32` (the fourth on the stack on i386) and a `u64` returned in
    /// EDX:EAX: the shape the module's glue uses. Works on both.
    #[test]
    fn u32_args_u64_return() {
        let w = [0x1111_0001, 0x2222_0002, 0x3333_0003, 0x4444_0004];
        // SAFETY: the probe only reads its arguments and writes its record.
        let r = unsafe { glue::rct_abi_u32x4(w[0], w[1], w[2], w[3]) };
        assert_eq!(seen()[..4], w);
        assert_eq!(r, sum(&w));
    }

    /// `(u32, u64) -> u64`. i386: C takes `b` in EDX:ECX, rustc pushes it,
    /// so C reads stale registers; `a` (EAX) and the return are right.
    #[test]
    fn i386_u64_arg_still_broken() {
        const A: u32 = 0x5eed_0a01;
        const B: u64 = 0x0b0b_0b02_0c0c_0c03;
        // SAFETY: the probe only reads its arguments (on i386 `b` from
        // registers) and writes its record.
        let r = unsafe { glue::rct_abi_u32_u64(A, B) };
        let s = seen();
        assert_eq!(r, sum(&s[..3]));
        assert_eq!(s[0], A);
        if I386 {
            assert!([s[1], s[2]] != [lo(B), hi(B)]);
        } else {
            assert_eq!([s[1], s[2]], [lo(B), hi(B)]);
        }
    }

    /// `(u64, u64, u32) -> u64`. i386: C takes `a` in EAX:EDX, `b` and `c`
    /// on the stack (`b` does not fit in ECX alone); rustc pushes all three,
    /// so C's `b` is rustc's `a` and C's `c` the low word of rustc's `b`.
    #[test]
    fn i386_u64_pair_still_broken() {
        const A: u64 = 0xa1a1_a1a1_a2a2_a2a2;
        const B: u64 = 0xb1b1_b1b1_b2b2_b2b2;
        const C: u32 = 0xc3c3_c3c3;
        // SAFETY: the probe only reads its arguments (on i386 `a` from
        // registers, `b` and `c` from the 20 bytes rustc pushed) and writes
        // its record.
        let r = unsafe { glue::rct_abi_u64_u64_u32(A, B, C) };
        let s = seen();
        assert_eq!(r, sum(&s[..5]));
        if I386 {
            assert_eq!(s[2..5], [lo(A), hi(A), lo(B)]);
        } else {
            assert_eq!(s[..5], [lo(A), hi(A), lo(B), hi(B), C]);
        }
    }

    /// An 8-byte struct by value, then a `u32`. i386: C takes the struct in
    /// EAX:EDX and `tag` in ECX; rustc pushes the struct (using up no
    /// register) and passes `tag` in EAX, so C's `s.a` is `tag`.
    #[test]
    fn i386_small_struct_arg_still_broken() {
        const P: AbiPair = AbiPair {
            a: 0x9a9a_0001,
            b: 0x9b9b_0002,
        };
        const TAG: u32 = 0x7a7a_0003;
        // SAFETY: the probe only reads its arguments (on i386 all from
        // registers) and writes its record.
        let r = unsafe { glue::rct_abi_pair_u32(P, TAG) };
        let s = seen();
        assert_eq!(r, lo(sum(&s[..3])));
        if I386 {
            assert_eq!(s[0], TAG);
        } else {
            assert_eq!(s[..3], [P.a, P.b, TAG]);
        }
    }

    /// A 24-byte struct by value, alone: on the stack for both (too big for
    /// three registers, so C puts it on the stack too). Works on both.
    #[test]
    fn large_struct_arg() {
        const S: AbiSix = AbiSix {
            w: [
                0x6000_0001,
                0x6000_0002,
                0x6000_0003,
                0x6000_0004,
                0x6000_0005,
                0x6000_0006,
            ],
        };
        // SAFETY: the probe only reads its argument and writes its record.
        let r = unsafe { glue::rct_abi_six(S) };
        assert_eq!(seen()[..6], S.w);
        assert_eq!(r, lo(sum(&S.w)));
    }

    /// A 24-byte struct, then a `u32`. i386: the struct arrives (on the stack
    /// for both), but C, out of registers after it, reads `tag` from the
    /// stack past it, where rustc pushed nothing (it passed `tag` in EAX).
    #[test]
    fn i386_u32_after_large_struct_still_broken() {
        const S: AbiSix = AbiSix {
            w: [
                0x6100_0001,
                0x6100_0002,
                0x6100_0003,
                0x6100_0004,
                0x6100_0005,
                0x6100_0006,
            ],
        };
        const TAG: u32 = 0x7b7b_0007;
        // SAFETY: the probe only reads its arguments (on i386 `tag` from the
        // caller's stack frame, readable memory) and writes its record.
        let r = unsafe { glue::rct_abi_six_u32(S, TAG) };
        let s = seen();
        assert_eq!(s[..6], S.w);
        assert_eq!(r, lo(sum(&s[..7])));
        if I386 {
            assert!(s[6] != TAG);
        } else {
            assert_eq!(s[6], TAG);
        }
    }

    /// An 8-byte struct returned by value: EDX:EAX for both on i386
    /// (`-freg-struct-return`, `-Zreg-struct-return`). Works on both.
    #[test]
    fn small_struct_return() {
        // SAFETY: the probe only computes its result.
        let p = unsafe { glue::rct_abi_ret_pair(0x1234_5678, 0x9abc_def0) };
        assert!(
            p == AbiPair {
                a: 0x9abc_def0,
                b: 0x1234_5678,
            }
        );
    }

    /// A 24-byte struct returned by value: through a hidden pointer. Never
    /// called on i386, where `rct_abi_ret_six` is not even declared: C takes
    /// that pointer in EAX and does not pop it, rustc pushes it (with `seed`
    /// in EAX) and expects the callee to pop it, so C would write 24 bytes
    /// through `seed` and return with ESP 4 bytes off.
    #[test]
    fn large_struct_return() {
        // Too big for EDX:EAX, so returned through memory on i386.
        const _: () = core::assert!(core::mem::size_of::<AbiSix>() > 8);
        #[cfg(not(CONFIG_X86_32))]
        {
            // SAFETY: the probe only fills in its result.
            let s = unsafe { glue::rct_abi_ret_six(0x1000_0000) };
            assert_eq!(
                s.w,
                [
                    0x1000_0000,
                    0x1101_0101,
                    0x1202_0202,
                    0x1303_0303,
                    0x1404_0404,
                    0x1505_0505,
                ]
            );
        }
    }

    static CB3: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];

    extern "C" fn abi_cb3(a: u32, b: u32, c: u32) -> u32 {
        CB3[0].store(a, Ordering::Relaxed);
        CB3[1].store(b, Ordering::Relaxed);
        CB3[2].store(c, Ordering::Relaxed);
        a ^ b.rotate_left(8) ^ c.rotate_left(16)
    }

    /// C calls Rust with three `u32`: EAX, EDX, ECX for both. Works on both.
    #[test]
    fn callback_u32_args() {
        const W: [u32; 3] = [0x3c3c_0001, 0x3c3c_0002, 0x3c3c_0003];
        // SAFETY: the probe calls `abi_cb3` with its arguments.
        let r = unsafe { glue::rct_abi_call_cb3(abi_cb3, W[0], W[1], W[2]) };
        let got = [
            CB3[0].load(Ordering::Relaxed),
            CB3[1].load(Ordering::Relaxed),
            CB3[2].load(Ordering::Relaxed),
        ];
        assert_eq!(got, W);
        assert_eq!(r, W[0] ^ W[1].rotate_left(8) ^ W[2].rotate_left(16));
    }

    static CB64: [AtomicU32; 2] = [const { AtomicU32::new(0) }; 2];

    extern "C" fn abi_cb64(x: u64) -> u64 {
        CB64[0].store(lo(x), Ordering::Relaxed);
        CB64[1].store(hi(x), Ordering::Relaxed);
        x
    }

    /// C calls Rust with a `u64`. i386: C passes it in EAX:EDX, the Rust
    /// callback reads it from the stack (C's frame); the `u64` it returns
    /// in EDX:EAX reaches C, and C's return reaches Rust, intact.
    #[test]
    fn i386_u64_callback_arg_still_broken() {
        const X: u64 = 0x6464_0001_6464_0002;
        // SAFETY: the probe calls `abi_cb64` with `X` and records the result;
        // on i386 the callback reads its argument from C's stack frame.
        let r = unsafe { glue::rct_abi_call_cb64(abi_cb64, lo(X), hi(X)) };
        let got = u64::from(CB64[1].load(Ordering::Relaxed)) << 32
            | u64::from(CB64[0].load(Ordering::Relaxed));
        assert_eq!(r, got);
        assert_eq!(seen()[..2], [lo(got), hi(got)]);
        if I386 {
            assert!(got != X);
        } else {
            assert_eq!(got, X);
        }
    }

    /// Over-aligned stack locals keep their alignment when C calls Rust on
    /// a stack that is only 4-byte aligned, as every i386 kernel stack is
    /// (`-mstack-alignment=4`). LLVM assumes the psABI's 16 bytes for
    /// i386-linux unless the `override-stack-alignment` module flag says 4
    /// (`arch/x86/Makefile`, patch 0001); then it realigns frames that need
    /// more. Without it `A16` and `A8` land 4 (mod 8) off: undefined
    /// behaviour for Rust, a split-lock `cmpxchg8b` for an atomic.
    #[test]
    fn overaligned_locals_on_a_4_byte_aligned_stack() {
        // SAFETY: the probe calls `abi_align_cb` (no arguments) on a stack
        // deliberately aligned to 4 (mod 16), and restores it.
        let r = unsafe { glue::rct_abi_call_misaligned(abi_align_cb) };
        // The align(16) local's address mod 16, the align(8) one's mod 8.
        assert_eq!(r & 0xff, 0);
        assert_eq!(r >> 8, 0);
    }

    #[repr(C, align(16))]
    struct A16([u32; 4]);

    #[repr(C, align(8))]
    struct A8([u32; 2]);

    /// The misalignment of an align(16) and an align(8) local, `a16 | a8 << 8`.
    extern "C" fn abi_align_cb() -> u32 {
        let a16 = A16([1, 2, 3, 4]);
        let a8 = A8([5, 6]);
        // `black_box` twice: the locals must live in this frame, and the
        // addresses must be looked at, not assumed aligned (LLVM folds
        // `address % 16` of an align(16) local to 0).
        let p16 = core::ptr::from_ref(core::hint::black_box(&a16)) as usize;
        let p8 = core::ptr::from_ref(core::hint::black_box(&a8)) as usize;
        let (p16, p8) = core::hint::black_box((p16, p8));
        (p16 % 16) as u32 | ((p8 % 8) as u32) << 8
    }
}
