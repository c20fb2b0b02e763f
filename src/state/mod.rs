//! What the engine and the policies share, below both: requests waiting for GPUs, allocations
//! holding them, the read-only view of the fleet, and the preemption and quota rules. Policies
//! read these; the engine owns and changes them. Nothing here imports `sim` or `policy`.

pub mod alloc;
pub mod request;
pub mod rules;
pub mod view;

pub use rules::{VictimSet, preemption_allowed, quota_kept, victims_allowed, within_quota};
pub use view::View;
