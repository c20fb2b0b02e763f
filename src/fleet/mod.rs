//! The fleet: GPU types and pools (data), and the cluster state with the indexes placement
//! searches through.

pub mod bitset;
pub mod cluster;
pub mod types;

pub use cluster::{Cluster, GpuState, NodeClass, NodeId};
pub use types::{GpuType, Pool, Shape, TypeId};
