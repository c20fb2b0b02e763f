//! ServeGen per-client rate series (`alibaba/ServeGen`, `data/<category>/<model>/chunk-<client>-trace.csv`,
//! concatenated per model with a `client_id` column: `<model>_client_rates.csv.gz`). Each row
//! is one client's mean request rate over a 600 s window, with the burstiness (CV) and the
//! fitted inter-arrival law; window 0 starts at local midnight.

use std::path::Path;

use super::{Loaded, TraceError, read_csv};
use crate::units::Time;

/// One client's rate in one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub client: String,
    /// Window start, µs after the trace's midnight.
    pub start: Time,
    /// Mean request rate in the window, requests/s.
    pub rate_rps: f64,
    /// Coefficient of variation of the inter-arrival times.
    pub cv: f64,
    /// `Gamma`, `Weibull`, or empty when there were no requests.
    pub pattern: String,
}

/// Length of a ServeGen window.
pub const WINDOW: Time = 600 * crate::units::US_PER_SEC;

/// Reads a rate file (plain or `.gz`). Missing or negative numbers, a window start beyond
/// [`super::MAX_SECS`], and a window that does not come after the same client's last good one, are
/// bad rows.
pub fn read(path: &Path, lenient: bool) -> Result<Loaded<Window>, TraceError> {
    // Each client's last good window (start, line); looked up, never iterated.
    let mut last = std::collections::BTreeMap::<String, (Time, u64)>::new();
    read_csv(
        path,
        &["client_id", "window_start_s", "rate_rps", "cv"],
        &["arrival_pattern"],
        true,
        b',',
        lenient,
        |f| {
            let client = f.text("client_id").to_string();
            if client.is_empty() {
                return Err(f.bad("client_id", "missing value"));
            }
            let start = f.secs("window_start_s")?;
            let rate_rps = f.non_negative("rate_rps")?;
            let cv = f.non_negative("cv")?;
            if let Some(&(t, line)) = last.get(&client)
                && start <= t
            {
                return Err(f.bad(
                    "window_start_s",
                    format!(
                        "`{}` is not after the same client's last good window (line {line})",
                        f.text("window_start_s")
                    ),
                ));
            }
            last.insert(client.clone(), (start, f.line));
            Ok(Some(Window {
                client,
                start,
                rate_rps,
                cv,
                pattern: f.text("arrival_pattern").to_string(),
            }))
        },
    )
}

/// Requests of each client over the whole file, largest first (ties by client id), for
/// picking clients by volume.
pub fn clients_by_volume(rows: &[Window]) -> Vec<(&str, f64)> {
    let mut sum = std::collections::BTreeMap::<&str, f64>::new();
    for w in rows {
        *sum.entry(w.client.as_str()).or_default() += w.rate_rps * crate::units::secs(WINDOW);
    }
    let mut v: Vec<(&str, f64)> = sum.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    v
}
