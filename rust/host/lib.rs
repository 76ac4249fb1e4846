// SPDX-License-Identifier: GPL-2.0

//! Host build of rconntrack's pure-logic files, for `cargo test`.
//!
//! These files are compiled unchanged into the kernel module; they depend on
//! `core` only.

#[path = "../tuple.rs"]
pub mod tuple;

#[path = "../proto.rs"]
pub mod proto;

#[path = "../limits.rs"]
pub mod limits;

#[path = "../sctp.rs"]
pub mod sctp;
