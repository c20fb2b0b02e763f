//! Gavel (OSDI'20; `stanford-futuredata/gavel`): job traces derived from Microsoft Philly
//! (`scheduler/traces/msr/seed=<n>/<vc>.trace`, 7 tab-separated columns, and the newer
//! 10-column format of `scheduler/utils.py::parse_trace`), and the throughput matrix
//! `simulation_throughputs.json` (worker type x `('<job type>', <GPUs>)` -> steps/s, the
//! `"null"` entry being the job running alone).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{Loaded, Ordered, TraceError, open, read_csv};
use crate::units::Time;

/// One job of a Gavel trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Model and batch size, e.g. `ResNet-50 (batch size 64)`.
    pub job_type: String,
    pub total_steps: f64,
    /// Arrival, µs after the trace start.
    pub arrival: Time,
    /// GPUs (Gavel's `scale_factor`).
    pub gpus: u32,
}

const OLD: [&str; 7] = [
    "job_type",
    "command",
    "num_steps_arg",
    "needs_data_dir",
    "total_steps",
    "arrival_time",
    "scale_factor",
];
const NEW: [&str; 10] = [
    "job_type",
    "command",
    "working_directory",
    "num_steps_arg",
    "needs_data_dir",
    "total_steps",
    "scale_factor",
    "priority_weight",
    "SLO",
    "arrival_time",
];

/// Reads a trace in either format (told apart by the first row's column count). Missing or
/// non-numeric steps, GPUs or times, arrivals beyond [`super::MAX_SECS`] and arrivals earlier than
/// the last good row's are bad rows.
pub fn read_trace(path: &Path, lenient: bool) -> Result<Loaded<Job>, TraceError> {
    let width = first_row_width(path)?;
    let columns: &[&'static str] = if width >= NEW.len() { &NEW } else { &OLD };
    let mut order = Ordered::new();
    read_csv(path, columns, &[], false, b'\t', lenient, |f| {
        let job_type = f.text("job_type").to_string();
        if job_type.is_empty() {
            return Err(f.bad("job_type", "missing value"));
        }
        let total_steps = f.non_negative("total_steps")?;
        let gpus: u32 = f.num("scale_factor")?;
        if gpus == 0 {
            return Err(f.bad("scale_factor", "a job needs at least 1 GPU"));
        }
        let arrival = f.secs("arrival_time")?;
        order.check(arrival).map_err(|m| {
            f.bad(
                "arrival_time",
                format!("`{}` is {m}", f.text("arrival_time")),
            )
        })?;
        order.accept(arrival, f.line);
        Ok(Some(Job {
            job_type,
            total_steps,
            arrival,
            gpus,
        }))
    })
}

/// Fields in the first non-blank line, counted in bytes (a tab is one byte in UTF-8, so no
/// decoding is needed and a character cut at the end of a read cannot make it fail).
fn first_row_width(path: &Path) -> Result<usize, TraceError> {
    let mut text = BufReader::new(open(path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut text)
            .take(1 << 20)
            .read_until(b'\n', &mut line)
            .map_err(|e| text.get_ref().error(e))?;
        if n == 0 {
            return Ok(0);
        }
        if !line.trim_ascii().is_empty() {
            return Ok(line.iter().filter(|&&c| c == b'\t').count() + 1);
        }
    }
}

/// Isolated throughput (steps/s) by `(job type, GPUs)` and then by worker type (`k80`,
/// `p100`, `v100`, ...).
pub type Throughputs = BTreeMap<(String, u32), BTreeMap<String, f64>>;

/// Reads `simulation_throughputs.json`, keeping each job's isolated (`"null"`) throughput;
/// a throughput of 0 (the job does not fit on that worker) leaves the entry out.
pub fn read_throughputs(path: &Path) -> Result<Throughputs, TraceError> {
    let file = path.display().to_string();
    let format = |message: String| TraceError::Format {
        file: file.clone(),
        line: 0,
        message,
    };
    let v: serde_json::Value = serde_json::from_reader(open(path)?)
        .map_err(|e| format(format!("line {}: {e}", e.line())))?;
    let workers = v
        .as_object()
        .ok_or_else(|| format("expected an object keyed by worker type".into()))?;
    let mut out = Throughputs::new();
    for (worker, jobs) in workers {
        let jobs = jobs
            .as_object()
            .ok_or_else(|| format(format!("`{worker}` is not an object")))?;
        for (key, entry) in jobs {
            let (job_type, gpus) = parse_key(key).ok_or_else(|| {
                format(format!(
                    "`{worker}`: key `{key}` is not ('<job type>', <GPUs>)"
                ))
            })?;
            let null = entry.get("null").and_then(|x| x.as_f64()).ok_or_else(|| {
                format(format!(
                    "`{worker}`.`{key}`: no numeric \"null\" (isolated) throughput"
                ))
            })?;
            if !(null.is_finite() && null >= 0.0) {
                return Err(format(format!(
                    "`{worker}`.`{key}`: throughput {null} must be >= 0"
                )));
            }
            // Gavel writes 0 where the job does not fit on the worker (out of memory).
            if null == 0.0 {
                continue;
            }
            out.entry((job_type, gpus))
                .or_default()
                .insert(worker.clone(), null);
        }
    }
    Ok(out)
}

/// Parses `('ResNet-50 (batch size 64)', 2)`.
fn parse_key(key: &str) -> Option<(String, u32)> {
    let inner = key.strip_prefix("('")?.strip_suffix(')')?;
    let (name, gpus) = inner.rsplit_once("',")?;
    Some((name.to_string(), gpus.trim().parse().ok()?))
}

/// Isolated run time in seconds of `job` on `worker`, if the matrix has its shape there.
pub fn duration_s(t: &Throughputs, job: &Job, worker: &str) -> Option<f64> {
    let rate = t.get(&(job.job_type.clone(), job.gpus))?.get(worker)?;
    Some(job.total_steps / rate)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_parse() {
        assert_eq!(
            super::parse_key("('ResNet-50 (batch size 64)', 2)"),
            Some(("ResNet-50 (batch size 64)".to_string(), 2))
        );
        assert_eq!(super::parse_key("('A3C', 1)"), Some(("A3C".into(), 1)));
        assert_eq!(super::parse_key("A3C"), None);
    }
}
