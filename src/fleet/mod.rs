//! The fleet: GPU types and pools (data), and the cluster state with the indexes placement
//! searches through.

pub mod bitset;
pub mod cluster;
pub mod exempt;
pub mod types;

/// Most GPUs a fleet may have, across all pools (a config's, or one scaled by `--scale`): 20
/// times the gigawatt region, and far inside the engine's 32-bit GPU and node indexes.
pub const MAX_FLEET_GPUS: u64 = 10_000_000;

/// Index of a tenant in `Scenario::tenants` (a node carries one tenant's image at a time).
pub type TenantId = usize;

pub use cluster::{Cluster, GpuState, NodeClass, NodeId};
pub use types::{GpuType, Pool, Shape, TypeId};
