// SPDX-License-Identifier: GPL-2.0

//! Per-CPU `u32` counters, as nf_conntrack's `NF_CT_STAT_INC`, and per-CPU
//! notes that hand a value from one step of a packet's path to a later step
//! on the same CPU.

use super::glue;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use kernel::prelude::*;

/// `N` per-CPU counters.
///
/// # Invariants
///
/// `ptr` is a live per-CPU allocation of `N` `u32`s, freed only in `drop`.
pub(crate) struct PerCpuCounters<const N: usize> {
    ptr: *mut c_void,
}

// SAFETY: the counters are per-CPU and updated with `this_cpu_inc()`, which
// is safe from any context on any CPU.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: as above; reads of other CPUs' counters are racy snapshots by
// design, as in nf_conntrack.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// Allocates zeroed counters.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain allocation; `__alloc_percpu` zeroes the memory.
        let ptr = unsafe { glue::rct_percpu_alloc(N * core::mem::size_of::<u32>()) };
        if ptr.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: just allocated with room for `N` u32s.
        Ok(Self { ptr })
    }

    /// Increments counter `idx` on this CPU.
    pub(crate) fn inc(&self, idx: usize) {
        if idx < N {
            // SAFETY: `ptr` is valid per the invariant and `idx < N`.
            unsafe { glue::rct_percpu_inc(self.ptr, idx as u32) }
        }
    }

    /// Counter `idx` of `cpu`.
    pub(crate) fn read(&self, cpu: u32, idx: usize) -> u32 {
        if idx >= N || cpu >= nr_cpu_ids() {
            return 0;
        }
        // SAFETY: `ptr` is valid, `idx < N` and `cpu` is below `nr_cpu_ids`.
        unsafe { glue::rct_percpu_read(self.ptr, cpu as i32, idx as u32) }
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: allocated by `__alloc_percpu` and not used after this.
        unsafe { kernel::bindings::free_percpu(self.ptr) }
    }
}

/// One tagged slot of a [`PerCpuNote`]; tag 0 means empty.
#[repr(C)]
struct Slot<T> {
    tag: usize,
    val: MaybeUninit<T>,
}

/// One tagged value of type `T` per CPU: [`PerCpuNote::put`] leaves a value
/// on this CPU, and a later [`PerCpuNote::take`] with the same tag, on the
/// same CPU, gets it back once.
///
/// A netfilter hook uses it to hand what it learnt about a packet to a later
/// hook of the same packet, tagged with the packet's address: between the
/// two the packet usually stays on its CPU, and when it does not (a
/// preempted sender, a queued packet), `take` finds another value or none,
/// and the caller does without.
///
/// Values are copied in and out with interrupts disabled on this CPU, so no
/// other context can run on the CPU during a copy (no torn value), and no
/// reference to per-CPU memory ever leaves these functions. `T: Copy +
/// 'static`: a value holds no borrow that could end before it is taken, and
/// overwriting one needs no drop.
///
/// # Invariants
///
/// `ptr` is a live per-CPU allocation of one zeroed `Slot<T>` per CPU, with
/// `Slot<T>`'s size and alignment, freed only in `drop`. A slot whose tag is
/// not 0 holds an initialised `T`.
pub(crate) struct PerCpuNote<T: Copy + Send + 'static> {
    ptr: *mut c_void,
    _t: PhantomData<T>,
}

// SAFETY: the allocation is reached only through `put` and `take`, which
// copy whole values of a `Send` type with interrupts disabled on the
// current CPU: no two contexts access one CPU's slot at once.
unsafe impl<T: Copy + Send + 'static> Send for PerCpuNote<T> {}
// SAFETY: as above.
unsafe impl<T: Copy + Send + 'static> Sync for PerCpuNote<T> {}

impl<T: Copy + Send + 'static> PerCpuNote<T> {
    /// Allocates an empty slot per possible CPU.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain allocation; `__alloc_percpu` zeroes the memory.
        let ptr = unsafe {
            glue::rct_percpu_alloc_align(
                core::mem::size_of::<Slot<T>>(),
                core::mem::align_of::<Slot<T>>(),
            )
        };
        if ptr.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: zeroed slots, every tag 0.
        Ok(Self {
            ptr,
            _t: PhantomData,
        })
    }

    /// Runs `f` on this CPU's slot with interrupts disabled.
    fn with_slot<R>(&self, f: impl FnOnce(*mut Slot<T>) -> R) -> R {
        let mut flags = 0;
        // SAFETY: disabling interrupts is always allowed (restored below);
        // `ptr` is a live per-CPU allocation (invariant), and neither
        // preemption nor migration can happen with interrupts off.
        let slot =
            unsafe { glue::rct_this_cpu_ptr_irqsave(self.ptr, &mut flags) }.cast::<Slot<T>>();
        let r = f(slot);
        // SAFETY: `flags` comes from the matching save above.
        unsafe { glue::rct_local_irq_restore(flags) };
        r
    }

    /// Leaves `val` tagged `tag` on this CPU, replacing what was there. Tag
    /// 0 is reserved (empty) and ignored.
    pub(crate) fn put(&self, tag: usize, val: T) {
        if tag == 0 {
            return;
        }
        self.with_slot(|slot| {
            // SAFETY: this CPU's slot, aligned and sized for `Slot<T>`; no
            // other context runs on this CPU meanwhile (`with_slot`).
            // INVARIANT: a non-zero tag with an initialised value.
            unsafe {
                slot.write(Slot {
                    tag,
                    val: MaybeUninit::new(val),
                })
            }
        });
    }

    /// Takes the value tagged `tag` from this CPU, leaving it empty; `None`
    /// if this CPU holds another tag or nothing.
    pub(crate) fn take(&self, tag: usize) -> Option<T> {
        if tag == 0 {
            return None;
        }
        self.with_slot(|slot| {
            // SAFETY: this CPU's slot, exclusively ours (see `put`).
            unsafe {
                if (*slot).tag != tag {
                    return None;
                }
                (*slot).tag = 0;
                // The tag was not 0: `put` wrote a `T` (invariant); `T` is
                // `Copy`, so reading it out leaves nothing to drop.
                Some((*slot).val.assume_init_read())
            }
        })
    }
}

impl<T: Copy + Send + 'static> PerCpuNote<T> {
    /// A copy of this CPU's value and its tag, whatever the tag, leaving it
    /// in place; `None` if the slot is empty.
    pub(crate) fn peek(&self) -> Option<(usize, T)> {
        self.with_slot(|slot| {
            // SAFETY: this CPU's slot, exclusively ours (see `put`); a
            // non-zero tag means an initialised `T` (invariant), and `T`
            // is `Copy`.
            unsafe {
                if (*slot).tag == 0 {
                    None
                } else {
                    Some(((*slot).tag, (*slot).val.assume_init_read()))
                }
            }
        })
    }
}

impl<T: Copy + Send + 'static> Drop for PerCpuNote<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by `__alloc_percpu` and not used after this.
        unsafe { kernel::bindings::free_percpu(self.ptr) }
    }
}

/// `nr_cpu_ids`.
pub(crate) fn nr_cpu_ids() -> u32 {
    // SAFETY: plain read of a global set at boot.
    unsafe { glue::rct_nr_cpu_ids() }
}

/// Iterator over possible CPUs.
pub(crate) fn possible_cpus() -> impl Iterator<Item = u32> {
    let mut cpu: i32 = -1;
    core::iter::from_fn(move || {
        // SAFETY: `cpumask_next()` accepts -1 and any CPU number.
        let next = unsafe { glue::rct_cpu_next(cpu) };
        if next < 0 || next as u32 >= nr_cpu_ids() {
            None
        } else {
            cpu = next;
            Some(next as u32)
        }
    })
}
