//! Helpers of the PromQL differential test: the Prometheus process and the dataset.

pub mod dataset;
pub mod prometheus;

pub use super::encode;
