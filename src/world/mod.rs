//! The generated multi-tenant world: model, proptest strategies, seeding, ground truth.

pub mod model;
pub(crate) mod seed;
pub(crate) mod strategy;
pub(crate) mod truth;
