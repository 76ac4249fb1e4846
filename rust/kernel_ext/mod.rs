// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel APIs rconntrack needs.
//!
//! A library: generic over traits its user implements ([`netns::NetfilterNs`],
//! [`table::TableKey`], [`work::PeriodicWork`]), with registrations that own
//! their C objects and their teardown order; nothing here names a type of
//! the tracker, and nothing global points at it.
//!
//! All `unsafe` code of the module lives here, each block with a `SAFETY:`
//! comment; the conntrack logic (`tracker.rs`, `tuple.rs`, `proto.rs`,
//! `limits.rs`) uses these types and has none. The one exception is the
//! calling-convention tests (`kunit_abi.rs`), whose FFI calls are what they
//! test.

pub(crate) mod glue;
pub(crate) mod hash;
pub(crate) mod netns;
pub(crate) mod percpu;
pub(crate) mod seqfile;
pub(crate) mod skb;
pub(crate) mod stripes;
pub(crate) mod sys;
pub(crate) mod sysctl;
pub(crate) mod table;
pub(crate) mod work;
