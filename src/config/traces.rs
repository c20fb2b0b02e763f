//! Config sections backed by public traces: inference demand replayed from request traces or
//! ServeGen rate series, training jobs from Philly/Helios cuts, openb pods or Gavel traces, and
//! a fleet from the openb node inventory. Paths are relative to `trace_dir` (or the config
//! file); every row left out is counted, never dropped silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::limits::{MAX_JOBS, MIN_LOOP_PERIOD};
use super::locate::KeyPath;
use super::raw::{RawInventory, RawTrace};
use super::{ConfigError, Ctx};
use crate::fleet::{GpuType, Pool, TypeId};
use crate::trace::{self, BadRow, TraceError, dirlab, gavel, mooncake, openb, servegen};
use crate::units::{Time, from_secs_f64, secs};
use crate::workload::ExplicitJob;
use crate::workload::replay::{Arrival, Replay};

/// What a run read from one trace, for the report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceUse {
    /// Config section that named the trace, e.g. `inference[0].trace`.
    pub section: String,
    pub reader: String,
    pub file: String,
    /// Rows read (bad rows excluded).
    pub rows: u64,
    /// Bad rows skipped under `--lenient` (a strict run stops on the first file with any).
    pub skipped_rows: u64,
    /// The first few skipped rows: line, field and why.
    pub first_skipped: Vec<String>,
    /// Rows (requests, jobs, pods, nodes, client windows) that the replay uses.
    pub used: u64,
    /// Rows left out on purpose, by reason (outside the window, CPU-only, ...).
    pub left_out: BTreeMap<String, u64>,
    /// Rows used with a stated simplification, by kind (a GPU share rounded up to a whole
    /// GPU, a type constraint not enforced, a gang throughput scaled from one GPU).
    pub adjusted: BTreeMap<String, u64>,
}

/// Readers each section accepts.
pub const INFERENCE_READERS: [&str; 3] = ["azure", "mooncake", "servegen"];
pub const TRAINING_READERS: [&str; 4] = ["philly", "helios", "openb", "gavel"];

/// Default GPU time of a prompt token relative to a generated one \[D\]: decode at the MLPerf
/// H100 rate (3,900 tokens/s per GPU x 140 GFLOP per token for a 70B model) uses ~28 % of the
/// FP8 dense peak; prefill is compute-bound at ~50 % \[A\], so a prompt token costs ~0.55.
pub const DEFAULT_PROMPT_TOKEN_COST: f64 = 0.55;

/// Where a trace's time axis lands in the simulation: the window `[from, to)` of trace time,
/// sped up `k` x, starting at simulated time `start`, optionally repeated.
struct TimeMap {
    start: Time,
    from: Time,
    to: Option<Time>,
    k: f64,
    looping: bool,
}

impl TimeMap {
    /// Trace time to replay time (after the window start, sped up), or `None` outside the window.
    fn map(&self, tau: Time) -> Option<Time> {
        if tau < self.from || self.to.is_some_and(|to| tau >= to) {
            return None;
        }
        Some(self.scale(tau - self.from))
    }

    fn scale(&self, d: Time) -> Time {
        if self.k == 1.0 {
            d
        } else {
            from_secs_f64(secs(d) / self.k)
        }
    }

    /// Length of one pass: the window if it has an end, else `natural` (trace time).
    fn period(&self, natural: Time) -> Time {
        let len = self.to.map_or(natural, |to| to - self.from);
        self.scale(len).max(1)
    }
}

impl Ctx<'_> {
    fn trace_err(&self, path: KeyPath, e: TraceError) -> ConfigError {
        let hint = match &e {
            TraceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                format!(
                    "{e}: {source}. Public traces are not shipped: download them (README, \"Public traces\") and point `simulation.trace_dir` or --trace-dir at their folder"
                )
            }
            TraceError::Io { source, .. } => format!("{e}: {source}"),
            TraceError::BadRows { .. } => {
                format!("{e} (run with --lenient to skip bad rows and count them in the report)")
            }
            _ => e.to_string(),
        };
        self.err(path, hint)
    }

    /// What a run read from one trace. A file whose rows were all bad (skipped under
    /// `--lenient`) is an error naming them here, rather than an empty window later.
    fn trace_use(
        &self,
        section: &KeyPath,
        reader: &str,
        file: &str,
        rows: usize,
        skipped: &[BadRow],
    ) -> Result<TraceUse, ConfigError> {
        self.check(
            rows > 0 || skipped.is_empty(),
            section.clone().key("file"),
            format!(
                "{file}: every row is bad ({} skipped under --lenient); the first: {}",
                skipped.len(),
                first_few(skipped).join("; ")
            ),
        )?;
        Ok(TraceUse::new(section, reader, file, rows, skipped))
    }

    /// A trace file's path: relative to `--trace-dir`, else `simulation.trace_dir`, else the
    /// config file's folder.
    pub(super) fn trace_path(&self, file: &str) -> PathBuf {
        let f = Path::new(file);
        if f.is_absolute() {
            return f.to_path_buf();
        }
        self.trace_base.join(f)
    }

    fn time_map(&self, t: &RawTrace, tp: &KeyPath) -> Result<TimeMap, ConfigError> {
        let k = t.rate_scale.unwrap_or(1.0);
        self.positive(
            k,
            super::limits::MAX_RATE_SCALE,
            tp.clone().key("rate_scale"),
        )?;
        let from = t.from.map_or(0, |d| d.0);
        let to = t.to.map(|d| d.0);
        if let Some(to) = to {
            self.check(to > from, tp.clone().key("to"), "must be later than `from`")?;
        }
        Ok(TimeMap {
            start: t.start.map_or(0, |d| d.0),
            from,
            to,
            k,
            looping: t.looping,
        })
    }

    /// Rejects options that the section's reader does not use, so a misplaced option is not
    /// silently ignored.
    /// A looped trace's pass must last at least [`MIN_LOOP_PERIOD`]: a trace whose rows all
    /// share one time would otherwise repeat without end.
    fn loop_ok(&self, looping: bool, period: Time, tp: &KeyPath) -> Result<(), ConfigError> {
        self.check(
            !looping || period >= MIN_LOOP_PERIOD,
            tp.clone().key("loop"),
            format!(
                "a looped pass would last {} s; looping needs a trace (or window) that spans at least {} s",
                secs(period),
                secs(MIN_LOOP_PERIOD)
            ),
        )
    }

    /// A looped job trace repeats its `rows` jobs every `period` from `start` to the horizon:
    /// the pass must be long enough and the jobs at most [`MAX_JOBS`].
    fn repeat_ok(
        &self,
        looping: bool,
        start: Time,
        period: Time,
        rows: usize,
        horizon: Time,
        tp: &KeyPath,
    ) -> Result<(), ConfigError> {
        self.loop_ok(looping, period, tp)?;
        let passes = if looping {
            horizon.saturating_sub(start).div_ceil(period.max(1)).max(1)
        } else {
            1
        };
        let jobs = rows as f64 * passes as f64;
        self.check(
            jobs <= MAX_JOBS,
            tp.clone().key("loop"),
            format!(
                "{rows} jobs repeated {passes} times over the horizon would be {jobs:.0} jobs; a run may submit at most {MAX_JOBS:.0}"
            ),
        )
    }

    fn only_for(&self, t: &RawTrace, tp: &KeyPath) -> Result<(), ConfigError> {
        let r = t.reader.as_str();
        let inference = INFERENCE_READERS.contains(&r);
        let jobs = ["philly", "helios", "openb"].contains(&r);
        let checks: [(&str, bool, bool); 10] = [
            (
                "prompt_token_cost",
                t.prompt_token_cost.is_some(),
                inference,
            ),
            ("clients", t.clients.is_some(), r == "servegen"),
            ("client_ranks", t.client_ranks.is_some(), r == "servegen"),
            ("input_tokens", t.input_tokens.is_some(), r == "servegen"),
            ("output_tokens", t.output_tokens.is_some(), r == "servegen"),
            ("ran_on", t.ran_on.is_some(), jobs),
            (
                "ran_on_tokens_per_s_per_gpu",
                t.ran_on_tokens_per_s_per_gpu.is_some(),
                jobs,
            ),
            ("throughputs", t.throughputs.is_some(), r == "gavel"),
            ("gpu_map", t.gpu_map.is_some(), r == "gavel"),
            (
                "reference_worker",
                t.reference_worker.is_some(),
                r == "gavel",
            ),
        ];
        for (key, given, applies) in checks {
            self.check(
                !given || applies,
                tp.clone().key(key),
                format!("does not apply to the `{r}` reader"),
            )?;
        }
        Ok(())
    }

    /// Demand of an inference service replayed from a trace, and its prompt-token cost.
    pub(super) fn inference_replay(
        &self,
        t: &RawTrace,
        tp: &KeyPath,
    ) -> Result<(Replay, f64, TraceUse), ConfigError> {
        let path = tp.clone().key("reader");
        self.one_of(
            &t.reader,
            &INFERENCE_READERS,
            path,
            "inference trace reader",
        )?;
        self.only_for(t, tp)?;
        let cost = t.prompt_token_cost.unwrap_or(DEFAULT_PROMPT_TOKEN_COST);
        self.positive(
            cost,
            super::limits::MAX_PROMPT_TOKEN_COST,
            tp.clone().key("prompt_token_cost"),
        )?;
        let tm = self.time_map(t, tp)?;
        let path = self.trace_path(&t.file);
        let fp = tp.clone().key("file");
        let (replay, u) = if t.reader == "servegen" {
            self.servegen_replay(t, tp, &tm, &path)?
        } else {
            let (requests, skipped) = if t.reader == "azure" {
                let l = trace::azure::read(&path, self.lenient)
                    .map_err(|e| self.trace_err(fp.clone(), e))?;
                (l.rows, l.skipped)
            } else {
                let l = mooncake::read(&path, self.lenient)
                    .map_err(|e| self.trace_err(fp.clone(), e))?;
                (l.rows.into_iter().map(|r| r.request).collect(), l.skipped)
            };
            let mut u = self.trace_use(tp, &t.reader, &t.file, requests.len(), &skipped)?;
            let mut arrivals = Vec::with_capacity(requests.len());
            for r in &requests {
                match tm.map(r.at) {
                    Some(at) => arrivals.push(Arrival {
                        at,
                        output_tokens: r.output_tokens as f64,
                        input_tokens: r.input_tokens as f64,
                    }),
                    None => u.leave_out("outside_window"),
                }
            }
            self.check(
                !arrivals.is_empty(),
                tp.clone().key("from"),
                "no request of the trace falls in the window",
            )?;
            // One pass lasts the trace's span plus one mean gap, so looping keeps the mean rate.
            let last = arrivals.last().map_or(0, |a| a.at);
            let natural = if tm.to.is_some() {
                0
            } else {
                let n = arrivals.len() as u128;
                let span = requests.last().map_or(0, |r| r.at).saturating_sub(tm.from);
                (span as u128 * n / (n - 1).max(1)) as Time
            };
            let period = if tm.to.is_some() {
                tm.period(0)
            } else {
                tm.scale(natural).max(last + 1)
            };
            u.used = arrivals.len() as u64;
            self.loop_ok(tm.looping, period, tp)?;
            (Replay::requests(&arrivals, period, tm.looping, tm.start), u)
        };
        Ok((replay, cost, u))
    }

    fn servegen_replay(
        &self,
        t: &RawTrace,
        tp: &KeyPath,
        tm: &TimeMap,
        path: &Path,
    ) -> Result<(Replay, TraceUse), ConfigError> {
        let fp = tp.clone().key("file");
        let l = servegen::read(path, self.lenient).map_err(|e| self.trace_err(fp, e))?;
        let mut u = self.trace_use(tp, &t.reader, &t.file, l.rows.len(), &l.skipped)?;
        let per_request = |key: &str, v: Option<f64>| -> Result<f64, ConfigError> {
            let v = v.ok_or_else(|| {
                self.err(
                    tp.clone().key(key),
                    format!("the servegen reader needs `{key}` (mean tokens per request; the rate files carry none)"),
                )
            })?;
            self.non_negative(v, super::limits::MAX_REQUEST_TOKENS, tp.clone().key(key))?;
            Ok(v)
        };
        let out_per = per_request("output_tokens", t.output_tokens)?;
        let in_per = per_request("input_tokens", t.input_tokens)?;
        let ranked = servegen::clients_by_volume(&l.rows);
        let chosen: Vec<&str> = match (&t.clients, &t.client_ranks) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    tp.clone().key("client_ranks"),
                    "give either `clients` or `client_ranks`, not both",
                ));
            }
            (Some(ids), None) => {
                for (i, id) in ids.iter().enumerate() {
                    self.check(
                        ranked.iter().any(|c| c.0 == id),
                        tp.clone().key("clients").index(i),
                        format!(
                            "client `{id}` is not in the trace ({} clients)",
                            ranked.len()
                        ),
                    )?;
                }
                ids.iter().map(String::as_str).collect()
            }
            (None, Some(r)) => {
                let rp = tp.clone().key("client_ranks");
                self.check(
                    r.len() == 2 && r[0] >= 1 && r[0] <= r[1] && (r[1] as usize) <= ranked.len(),
                    rp,
                    format!(
                        "must be [first, last], 1-based ranks by volume with first <= last <= {}",
                        ranked.len()
                    ),
                )?;
                ranked[r[0] as usize - 1..r[1] as usize]
                    .iter()
                    .map(|c| c.0)
                    .collect()
            }
            (None, None) => ranked.iter().map(|c| c.0).collect(),
        };
        let chosen: std::collections::BTreeSet<&str> = chosen.into_iter().collect();
        let mut by_window = BTreeMap::<Time, f64>::new();
        for w in &l.rows {
            if !chosen.contains(w.client.as_str()) {
                u.leave_out("other_clients");
                continue;
            }
            match tm.map(w.start) {
                Some(at) => {
                    *by_window.entry(at).or_default() += w.rate_rps;
                    u.used += 1;
                }
                None => u.leave_out("outside_window"),
            }
        }
        self.check(
            !by_window.is_empty(),
            tp.clone().key("from"),
            "no window of the chosen clients falls in the replayed part of the trace",
        )?;
        let len = tm.scale(servegen::WINDOW).max(1);
        let windows: Vec<(Time, Time, f64, f64)> = by_window
            .iter()
            .map(|(&at, &rate)| {
                let requests = rate * secs(servegen::WINDOW);
                (at, len, requests * out_per, requests * in_per)
            })
            .collect();
        let last_end = windows.last().map_or(0, |w| w.0 + w.1);
        let natural_end = l
            .rows
            .iter()
            .map(|w| w.start + servegen::WINDOW)
            .max()
            .unwrap_or(0)
            .saturating_sub(tm.from);
        let period = tm.period(natural_end).max(last_end);
        self.loop_ok(tm.looping, period, tp)?;
        Ok((Replay::rates(&windows, period, tm.looping, tm.start), u))
    }

    /// Jobs of a training workload from a Philly/Helios cut or openb pods: submit time, GPUs,
    /// and tokens = run time x GPUs x the throughput of the GPU type the trace ran on.
    pub(super) fn trace_jobs(
        &self,
        t: &RawTrace,
        tp: &KeyPath,
        rates: &[Option<f64>],
        types: &[GpuType],
        horizon: Time,
    ) -> Result<(Vec<ExplicitJob>, TraceUse), ConfigError> {
        self.only_for(t, tp)?;
        let ran_on = t.ran_on.as_deref().ok_or_else(|| {
            self.err(
                tp.clone().key("ran_on"),
                "name the GPU type the trace ran on (its run times become tokens at that type's throughput)",
            )
        })?;
        let src_rate = match t.ran_on_tokens_per_s_per_gpu {
            Some(r) => {
                self.positive(
                    r,
                    super::limits::MAX_TOKENS_PER_S_PER_GPU,
                    tp.clone().key("ran_on_tokens_per_s_per_gpu"),
                )?;
                r
            }
            None => types
                .iter()
                .position(|g| g.name == ran_on)
                .and_then(|i| rates[i])
                .ok_or_else(|| {
                    self.err(
                        tp.clone().key("ran_on"),
                        format!("`{ran_on}` has no tokens_per_s_per_gpu in this workload; give `ran_on_tokens_per_s_per_gpu`"),
                    )
                })?,
        };
        let tm = self.time_map(t, tp)?;
        let path = self.trace_path(&t.file);
        let fp = tp.clone().key("file");
        // (trace time, GPUs, run time s) of each usable row.
        let mut rows: Vec<(Time, u32, f64)> = Vec::new();
        let mut u;
        if t.reader == "openb" {
            let l = openb::read_pods(&path, self.lenient).map_err(|e| self.trace_err(fp, e))?;
            u = self.trace_use(tp, &t.reader, &t.file, l.rows.len(), &l.skipped)?;
            for p in &l.rows {
                let (Some(created), Some(life)) = (p.created, p.lifetime()) else {
                    u.leave_out("never_scheduled_pods");
                    continue;
                };
                if p.gpus == 0 {
                    u.leave_out("cpu_only_pods");
                    continue;
                }
                if p.gpu_milli < 1000 {
                    // Counted, not dropped: the pod gets a whole GPU (no MIG/MPS sharing).
                    u.adjust("gpu_shares_rounded_up_to_whole_gpus");
                }
                if !p.gpu_spec.is_empty() {
                    u.adjust("gpu_type_constraints_not_enforced");
                }
                rows.push((created, p.gpus, secs(life)));
            }
        } else {
            let l = dirlab::read(&path, self.lenient).map_err(|e| self.trace_err(fp, e))?;
            u = self.trace_use(tp, &t.reader, &t.file, l.rows.len(), &l.skipped)?;
            for j in &l.rows {
                if j.gpus == 0 {
                    u.leave_out("cpu_only_jobs");
                } else if j.run_time_s <= 0.0 {
                    u.leave_out("zero_run_time_jobs");
                } else {
                    rows.push((j.submit, j.gpus, j.run_time_s));
                }
            }
        }
        let natural = rows
            .iter()
            .map(|r| r.0)
            .max()
            .unwrap_or(0)
            .saturating_sub(tm.from)
            + 1;
        let mut base = Vec::new();
        for (tau, gpus, run_s) in rows {
            match tm.map(tau) {
                Some(at) => base.push(ExplicitJob {
                    at,
                    gpus,
                    tokens: run_s * gpus as f64 * src_rate,
                }),
                None => u.leave_out("outside_window"),
            }
        }
        u.used = base.len() as u64;
        let period = tm.period(natural);
        self.repeat_ok(tm.looping, tm.start, period, base.len(), horizon, tp)?;
        let jobs = repeat(&base, tm.start, period, tm.looping, horizon);
        Ok((jobs, u))
    }

    /// Training workloads from a Gavel trace, one per job type: tokens are training steps, the
    /// per-GPU speed on each mapped GPU type is the job type's 1-GPU throughput there, and a
    /// job's steps are scaled so that its run time on the reference worker is Gavel's own.
    #[allow(clippy::type_complexity)]
    pub(super) fn gavel_workloads(
        &self,
        t: &RawTrace,
        tp: &KeyPath,
        types: &[GpuType],
        horizon: Time,
    ) -> Result<(Vec<(String, Vec<Option<f64>>, Vec<ExplicitJob>)>, TraceUse), ConfigError> {
        self.only_for(t, tp)?;
        let tput_file = t.throughputs.as_deref().ok_or_else(|| {
            self.err(
                tp.clone().key("throughputs"),
                "the gavel reader needs `throughputs` (simulation_throughputs.json)",
            )
        })?;
        let tput = gavel::read_throughputs(&self.trace_path(tput_file))
            .map_err(|e| self.trace_err(tp.clone().key("throughputs"), e))?;
        let map = t.gpu_map.as_ref().ok_or_else(|| {
            self.err(
                tp.clone().key("gpu_map"),
                "map Gavel worker types onto configured GPU types, e.g. { v100 = \"V100\" }",
            )
        })?;
        let mut workers: Vec<(String, TypeId)> = Vec::new();
        for (worker, ty) in map {
            let i = types.iter().position(|g| &g.name == ty).ok_or_else(|| {
                self.err(
                    tp.clone().key("gpu_map").key(worker),
                    format!("unknown GPU type `{ty}`"),
                )
            })?;
            workers.push((worker.clone(), i));
        }
        let reference = t.reference_worker.clone().unwrap_or_else(|| "v100".into());
        let tm = self.time_map(t, tp)?;
        let path = self.trace_path(&t.file);
        let fp = tp.clone().key("file");
        // A folder means every `.trace` file in it (Gavel ships one per Philly VC).
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|source| {
                    self.trace_err(
                        fp.clone(),
                        TraceError::Io {
                            file: path.display().to_string(),
                            source,
                        },
                    )
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "trace"))
                .collect();
            v.sort();
            v
        } else {
            vec![path]
        };
        let mut jobs = Vec::new();
        let mut skipped = Vec::new();
        for f in &files {
            let l =
                gavel::read_trace(f, self.lenient).map_err(|e| self.trace_err(fp.clone(), e))?;
            skipped.extend(l.skipped);
            jobs.extend(l.rows);
        }
        jobs.sort_by_key(|j| j.arrival);
        let mut u = self.trace_use(tp, &t.reader, &t.file, jobs.len(), &skipped)?;
        let natural = jobs.last().map_or(0, |j| j.arrival).saturating_sub(tm.from) + 1;
        let mut by_type: BTreeMap<String, (Vec<Option<f64>>, Vec<ExplicitJob>)> = BTreeMap::new();
        for j in &jobs {
            let Some(at) = tm.map(j.arrival) else {
                u.leave_out("outside_window");
                continue;
            };
            let one = tput.get(&(j.job_type.clone(), 1));
            let mut rates = vec![None; types.len()];
            for (w, ty) in &workers {
                rates[*ty] = one.and_then(|m| m.get(w)).copied();
            }
            if rates.iter().all(Option::is_none) {
                *u.left_out
                    .entry("no_throughput_on_mapped_workers".into())
                    .or_default() += 1;
                continue;
            }
            let k = j.gpus as f64;
            let exact = one.and_then(|m| m.get(&reference)).zip(
                tput.get(&(j.job_type.clone(), j.gpus))
                    .and_then(|m| m.get(&reference)),
            );
            let tokens = match exact {
                Some((r1, rk)) => j.total_steps * k * r1 / rk,
                None => {
                    u.adjust("gang_throughput_scaled_from_one_gpu");
                    j.total_steps
                }
            };
            if tokens <= 0.0 {
                u.leave_out("zero_steps");
                continue;
            }
            u.used += 1;
            let e = by_type
                .entry(j.job_type.clone())
                .or_insert_with(|| (rates, Vec::new()));
            e.1.push(ExplicitJob {
                at,
                gpus: j.gpus,
                tokens,
            });
        }
        let period = tm.period(natural);
        let rows = by_type.values().map(|(_, base)| base.len()).sum();
        self.repeat_ok(tm.looping, tm.start, period, rows, horizon, tp)?;
        let out = by_type
            .into_iter()
            .map(|(name, (rates, base))| {
                let jobs = repeat(&base, tm.start, period, tm.looping, horizon);
                (name, rates, jobs)
            })
            .collect();
        Ok((out, u))
    }

    /// Pools from a node inventory: each trace GPU model's GPUs go to the configured type it
    /// maps to.
    pub(super) fn inventory(
        &self,
        inv: &RawInventory,
        types: &[GpuType],
    ) -> Result<(Vec<Pool>, TraceUse), ConfigError> {
        let ip = super::p().key("inventory");
        self.one_of(
            &inv.reader,
            &["openb"],
            ip.clone().key("reader"),
            "inventory reader",
        )?;
        let l = openb::read_nodes(&self.trace_path(&inv.file), self.lenient)
            .map_err(|e| self.trace_err(ip.clone().key("file"), e))?;
        let mut u = self.trace_use(&ip, &inv.reader, &inv.file, l.rows.len(), &l.skipped)?;
        let mut gpus = vec![0u32; types.len()];
        let mut unmapped = std::collections::BTreeSet::new();
        for n in &l.rows {
            if n.gpus == 0 {
                u.leave_out("cpu_only_nodes");
                continue;
            }
            match inv.models.get(&n.model).map(String::as_str) {
                Some("none") => {
                    u.leave_out(format!("{}_nodes_mapped_to_none", n.model));
                }
                Some(ty) => {
                    let i = types.iter().position(|g| g.name == ty).ok_or_else(|| {
                        self.err(
                            ip.clone().key("models").key(&n.model),
                            format!("unknown GPU type `{ty}`"),
                        )
                    })?;
                    gpus[i] += n.gpus;
                    u.used += 1;
                }
                None => {
                    unmapped.insert(n.model.clone());
                }
            }
        }
        self.check(
            unmapped.is_empty(),
            ip.clone().key("models"),
            format!(
                "the inventory has GPU models with no type: {} (map each to a GPU type, or to \"none\" to leave it out)",
                unmapped.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )?;
        let mut pools = Vec::new();
        for (i, &n) in gpus.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let g = &types[i];
            self.check(
                n % g.nvlink_domain_gpus == 0,
                ip.clone().key("models"),
                format!(
                    "the inventory gives {n} {} GPUs, not a multiple of its NVLink domain ({}); use a smaller node_gpus/nvlink_domain_gpus for that type",
                    g.name, g.nvlink_domain_gpus
                ),
            )?;
            pools.push(Pool {
                gpu_type: i,
                gpus: n,
            });
        }
        Ok((pools, u))
    }
}

impl TraceUse {
    fn new(section: &KeyPath, reader: &str, file: &str, rows: usize, skipped: &[BadRow]) -> Self {
        TraceUse {
            section: section.to_string(),
            reader: reader.to_string(),
            file: file.to_string(),
            rows: rows as u64,
            skipped_rows: skipped.len() as u64,
            first_skipped: first_few(skipped),
            used: 0,
            left_out: BTreeMap::new(),
            adjusted: BTreeMap::new(),
        }
    }

    /// Counts a row left out on purpose, by reason.
    fn leave_out(&mut self, why: impl Into<String>) {
        *self.left_out.entry(why.into()).or_default() += 1;
    }

    /// Counts a row used with a stated simplification.
    fn adjust(&mut self, how: &str) {
        *self.adjusted.entry(how.into()).or_default() += 1;
    }
}

fn first_few(bad: &[BadRow]) -> Vec<String> {
    bad.iter().take(5).map(|b| b.to_string()).collect()
}

/// `base` jobs (times relative to the replay start) shifted to `start`, repeated every
/// `period` until the horizon when looping.
fn repeat(
    base: &[ExplicitJob],
    start: Time,
    period: Time,
    looping: bool,
    horizon: Time,
) -> Vec<ExplicitJob> {
    let mut out = Vec::with_capacity(base.len());
    let mut offset = start;
    loop {
        out.extend(base.iter().map(|j| ExplicitJob {
            at: offset.saturating_add(j.at),
            ..j.clone()
        }));
        offset = offset.saturating_add(period);
        if !looping || offset >= horizon || base.is_empty() {
            break;
        }
    }
    out
}
