//! Holder crate for the criterion benches under `benches/`: it exports only the synthetic data
//! set they share with the measurement scripts.

pub mod dataset;
