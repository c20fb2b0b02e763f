//! Alibaba GPU cluster trace v2023 (openb, FGD ATC'23; `alibaba/clusterdata`,
//! `cluster-trace-gpu-v2023/csv/`): the node inventory (`openb_node_list_*.csv`:
//! `sn,cpu_milli,memory_mib,gpu,model`) and the pods (`openb_pod_list_*.csv`: GPU requests,
//! fractional GPUs, GPU-type constraints, creation/deletion/scheduling times in s).

use std::path::Path;

use super::{Loaded, Ordered, TraceError, read_csv};
use crate::units::Time;

/// One node: its name, GPU model and GPU count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub model: String,
    pub gpus: u32,
}

/// Reads a node list. Nodes without GPUs are kept (the all-node file lists CPU nodes).
pub fn read_nodes(path: &Path, lenient: bool) -> Result<Loaded<Node>, TraceError> {
    read_csv(
        path,
        &["sn", "gpu", "model"],
        &[],
        true,
        b',',
        lenient,
        |f| {
            let gpus: u32 = f.num("gpu")?;
            let model = f.text("model").to_string();
            if gpus > 0 && model.is_empty() {
                return Err(f.bad("model", "a GPU node needs a GPU model"));
            }
            Ok(Some(Node {
                name: f.text("sn").to_string(),
                model,
                gpus,
            }))
        },
    )
}

/// One pod. Times are `None` in the `multigpu*` variants, which have no time columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    pub name: String,
    pub gpus: u32,
    /// Share of one GPU in 1/1000 for GPU-sharing pods (`gpus` = 1); 1000 otherwise.
    pub gpu_milli: u32,
    /// Allowed GPU models; empty means any.
    pub gpu_spec: Vec<String>,
    pub qos: String,
    pub phase: String,
    pub created: Option<Time>,
    pub scheduled: Option<Time>,
    pub deleted: Option<Time>,
}

impl Pod {
    /// Time the pod held its GPUs (`deletion - scheduled`), if both are known.
    pub fn lifetime(&self) -> Option<Time> {
        Some(self.deleted?.saturating_sub(self.scheduled?))
    }
}

/// Reads a pod list. Missing or non-numeric GPU counts, negative times or times beyond
/// [`super::MAX_SECS`], a deletion before scheduling and a creation earlier than the last good
/// row's (pods are listed in creation order) are bad rows.
pub fn read_pods(path: &Path, lenient: bool) -> Result<Loaded<Pod>, TraceError> {
    let mut order = Ordered::new();
    read_csv(
        path,
        &["name", "num_gpu", "gpu_milli"],
        &[
            "gpu_spec",
            "qos",
            "pod_phase",
            "creation_time",
            "deletion_time",
            "scheduled_time",
        ],
        true,
        b',',
        lenient,
        |f| {
            let gpus: u32 = f.num("num_gpu")?;
            let gpu_milli: u32 = f.num("gpu_milli")?;
            let time = |name: &str| -> Result<Option<Time>, _> {
                if f.text(name).is_empty() {
                    Ok(None)
                } else {
                    f.secs(name).map(Some)
                }
            };
            let created = time("creation_time")?;
            let scheduled = time("scheduled_time")?;
            let deleted = time("deletion_time")?;
            if let (Some(s), Some(d)) = (scheduled, deleted)
                && d < s
            {
                return Err(f.bad("deletion_time", "earlier than scheduled_time"));
            }
            // Last, so that only a good row becomes the reference.
            if let Some(c) = created {
                order.check(c).map_err(|m| {
                    f.bad(
                        "creation_time",
                        format!("`{}` is {m}", f.text("creation_time")),
                    )
                })?;
                order.accept(c, f.line);
            }
            let spec = f.text("gpu_spec");
            Ok(Some(Pod {
                name: f.text("name").to_string(),
                gpus,
                gpu_milli,
                gpu_spec: if spec.is_empty() {
                    vec![]
                } else {
                    spec.split('|').map(str::to_string).collect()
                },
                qos: f.text("qos").to_string(),
                phase: f.text("pod_phase").to_string(),
                created,
                scheduled,
                deleted,
            }))
        },
    )
}
