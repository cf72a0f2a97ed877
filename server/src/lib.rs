//! The Arbiter server as a library: a [`Server`] is a value, so many isolated instances can
//! run in one process (tests rely on it).

pub mod replay;
pub mod room;
pub mod storage;
