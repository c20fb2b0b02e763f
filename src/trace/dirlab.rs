//! Philly and Helios job cuts as published by DIR-LAB (`DIR-LAB/Gen-Parallel-Workloads`,
//! `Philly/training_data/philly_data_training.csv`, `Helios/training_data/helios_data_training.csv`):
//! `u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status`, one job per
//! row, `interval` = s since the previous job's submission, `run_time` in s.

use std::path::Path;

use super::{Loaded, MAX_SECS, TraceError, read_csv};
use crate::units::{Time, from_secs_f64};

/// One job of the cut. CPU-only jobs (`gpu_num` = 0, common in Helios) are kept so that
/// submission times stay right; consumers filter them.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Submission, µs after the first job.
    pub submit: Time,
    pub user: String,
    pub gpus: u32,
    pub nodes: u32,
    /// Run time, s.
    pub run_time_s: f64,
    /// `Pass`, `Failed` or `Killed`.
    pub status: String,
}

const COLUMNS: [&str; 9] = [
    "u_id",
    "user",
    "gpu_num",
    "cpu_num",
    "node_num",
    "interval",
    "run_time",
    "wall_time",
    "new_status",
];

/// Reads a cut. Missing or non-numeric counts, negative intervals or run times (time going
/// backwards) and times beyond [`super::MAX_SECS`] (an interval that would take the submission past
/// it, a run time longer) are bad rows.
pub fn read(path: &Path, lenient: bool) -> Result<Loaded<Job>, TraceError> {
    let mut clock_s = 0.0f64;
    read_csv(path, &COLUMNS, &[], true, b',', lenient, |f| {
        let interval: f64 = f.num("interval")?;
        if !(interval.is_finite() && interval >= 0.0) {
            return Err(f.bad(
                "interval",
                format!("`{}` would go back in time", f.text("interval")),
            ));
        }
        // An out-of-range interval is this row's error and does not move the clock, so the
        // jobs after it keep their times.
        if clock_s + interval > MAX_SECS as f64 {
            return Err(f.bad(
                "interval",
                format!(
                    "`{}` s would take the submission time past {MAX_SECS} s (100 years) after the first job",
                    f.text("interval")
                ),
            ));
        }
        // A row bad in another field still moves the clock, so later jobs keep their times.
        clock_s += interval;
        let gpus: u32 = f.num("gpu_num")?;
        let nodes: u32 = f.num("node_num")?;
        let run_time_s = f.seconds("run_time")?;
        let status = f.text("new_status").to_string();
        if status.is_empty() {
            return Err(f.bad("new_status", "missing value"));
        }
        Ok(Some(Job {
            submit: from_secs_f64(clock_s),
            user: f.text("user").to_string(),
            gpus,
            nodes,
            run_time_s,
            status,
        }))
    })
}
