//! # smta-verify
//!
//! Proves on a real PostgreSQL that an SMTA multi-tenant database keeps tenants apart.
//! (Crate guide: grows with the engine.)

mod error;
mod flavor;
mod install;
mod postgres;
mod sandbox;

pub use error::Error;
pub use flavor::{Actor, Flavor, UnknownFlavor};
pub use install::{InstallError, SourceError, SqlSource};
pub use postgres::{Backend, BackendError};
pub use sandbox::Sandbox;
