//! The index's hasher: the Fx hash shared with ingest (see [`crate::model::hash`]).

pub use crate::model::hash::{FxBuild, FxHashMap};
