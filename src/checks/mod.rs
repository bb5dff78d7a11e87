//! The checks. Each family returns findings and never prints; `report/` renders them.
//!
//! * `isolation`: generated worlds, every actor, every table, every read and write path.

pub(crate) mod isolation;
