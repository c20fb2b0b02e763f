//! Gavel (OSDI'20; `stanford-futuredata/gavel`): job traces derived from Microsoft Philly
//! (`scheduler/traces/msr/seed=<n>/<vc>.trace`, 7 tab-separated columns, and the newer
//! 10-column format of `scheduler/utils.py::parse_trace`), and the throughput matrix
//! `simulation_throughputs.json` (worker type x `('<job type>', <GPUs>)` -> steps/s, the
//! `"null"` entry being the job running alone).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};

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
/// non-numeric steps, GPUs or times, arrivals beyond [`super::MAX_SECS`] and arrivals earlier
/// than the last good row's are bad rows.
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
/// a throughput of 0 (the job does not fit on that worker) leaves the entry out. Every error
/// (JSON syntax, a key that is not `('<job type>', <GPUs>)`, a missing, negative or repeated
/// throughput) names the line where it is.
pub fn read_throughputs(path: &Path) -> Result<Throughputs, TraceError> {
    let file = path.display().to_string();
    // Read whole (the matrix is ~1 MB): positions in a slice are exact, while a streaming
    // parser counts a peeked line end as read and can name the next line.
    let mut text = open(path)?;
    let mut bytes = Vec::new();
    text.read_to_end(&mut bytes).map_err(|e| text.error(e))?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    de.deserialize_map(WorkersV)
        .and_then(|t| de.end().map(|()| t))
        .map_err(|e| TraceError::Format {
            file,
            line: e.line() as u64,
            message: e.to_string(),
        })
}

/// The file's top level: an object keyed by worker type.
struct WorkersV;

impl<'de> Visitor<'de> for WorkersV {
    type Value = Throughputs;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object keyed by worker type")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Throughputs, A::Error> {
        let mut out = Throughputs::new();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(worker) = m.next_key::<String>()? {
            if !seen.insert(worker.clone()) {
                return Err(A::Error::custom(format!("worker `{worker}` appears twice")));
            }
            m.next_value_seed(JobsV {
                worker: &worker,
                out: &mut out,
            })?;
        }
        Ok(out)
    }
}

/// One worker's object: `('<job type>', <GPUs>)` -> throughputs.
struct JobsV<'a> {
    worker: &'a str,
    out: &'a mut Throughputs,
}

impl<'de> DeserializeSeed<'de> for JobsV<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for JobsV<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "`{}` to be an object keyed by ('<job type>', <GPUs>)",
            self.worker
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let worker = self.worker;
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = m.next_key::<String>()? {
            let shape = parse_key(&key).ok_or_else(|| {
                A::Error::custom(format!(
                    "`{worker}`: key `{key}` is not ('<job type>', <GPUs>)"
                ))
            })?;
            if !seen.insert(shape.clone()) {
                return Err(A::Error::custom(format!(
                    "`{worker}`: key `{key}` appears twice"
                )));
            }
            let null = m.next_value_seed(IsolatedV { worker, key: &key })?;
            // Gavel writes 0 where the job does not fit on the worker (out of memory).
            if null > 0.0 {
                self.out
                    .entry(shape)
                    .or_default()
                    .insert(worker.to_string(), null);
            }
        }
        Ok(())
    }
}

/// One job's entry: its isolated (`"null"`) throughput; the co-located ones are skipped.
struct IsolatedV<'a> {
    worker: &'a str,
    key: &'a str,
}

impl<'de> DeserializeSeed<'de> for IsolatedV<'_> {
    type Value = f64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IsolatedV<'_> {
    type Value = f64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "`{}`.`{}` to be an object of throughputs",
            self.worker, self.key
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<f64, A::Error> {
        let (worker, key) = (self.worker, self.key);
        let mut null = None;
        while let Some(k) = m.next_key::<String>()? {
            if k != "null" {
                m.next_value::<IgnoredAny>()?;
                continue;
            }
            if null.is_some() {
                return Err(A::Error::custom(format!(
                    "`{worker}`.`{key}`: \"null\" appears twice"
                )));
            }
            let v: f64 = m.next_value()?;
            // JSON has no infinities; a number too large for f64 is refused by the parser.
            if v < 0.0 {
                return Err(A::Error::custom(format!(
                    "`{worker}`.`{key}`: throughput {v} must be >= 0"
                )));
            }
            null = Some(v);
        }
        null.ok_or_else(|| {
            A::Error::custom(format!(
                "`{worker}`.`{key}`: no numeric \"null\" (isolated) throughput"
            ))
        })
    }
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
