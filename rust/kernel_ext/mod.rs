// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel APIs rconntrack needs.
//!
//! All `unsafe` code of the module lives here, each block with a `SAFETY:`
//! comment; the conntrack logic (`tracker.rs`, `tuple.rs`, `proto.rs`,
//! `limits.rs`) uses these types and has none.

pub(crate) mod glue;
pub(crate) mod hash;
pub(crate) mod netns;
pub(crate) mod percpu;
pub(crate) mod procfs;
pub(crate) mod skb;
pub(crate) mod stripes;
pub(crate) mod sys;
pub(crate) mod sysctl;
pub(crate) mod table;
