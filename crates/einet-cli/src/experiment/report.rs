//! What the experiments share: the provenance of a run (command line, commit, machine) and
//! result files that several runs add to.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::backend_arg::RunArgs;
use crate::output::atomic_write;

/// Where and how a run was made.
#[derive(Clone, Debug, Serialize)]
pub struct Provenance {
    /// The command line, quoted for a POSIX shell.
    pub command: String,
    /// The commit the binary was built from ([`build_commit`]).
    pub commit: Option<String>,
    /// Logical CPUs of the machine (`nproc`).
    pub nproc: usize,
    /// The CPU model from `/proc/cpuinfo`.
    pub cpu: Option<String>,
    /// Worker threads used.
    pub threads: usize,
    /// The GPU, when the run used the cuda backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Start of the run, UTC, `YYYY-MM-DD HH:MM`.
    pub started: String,
}

impl Provenance {
    /// The provenance of this process, running on `run`'s backend.
    pub fn collect(run: &RunArgs) -> Provenance {
        Provenance {
            command: command_line(),
            commit: build_commit(),
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(),
            threads: run.threads(),
            device: run.device_name(),
            started: utc_now(),
        }
    }

    /// One line for a report: `N logical CPUs (CPU), T threads[, GPU]`.
    pub fn machine(&self) -> String {
        machine_line(&serde_json::to_value(self).unwrap_or_default())
    }
}

/// [`Provenance::machine`] of a provenance read back from a results file.
pub fn machine_line(p: &Value) -> String {
    let mut line = format!(
        "{} logical CPUs ({}), {} threads",
        p["nproc"],
        p["cpu"].as_str().unwrap_or("unknown CPU"),
        p["threads"]
    );
    if let Some(gpu) = p["device"].as_str() {
        line.push_str(&format!(", {gpu}"));
    }
    line
}

/// This process's command line, each argument quoted when the shell would need it.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The commit this binary was built from (`git rev-parse --short HEAD` at build time, with
/// `+changes` when its tracked source differed from it); `None` when built outside git.
pub fn build_commit() -> Option<String> {
    Some(env!("EINET_BUILD_COMMIT"))
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// The `model name` line of `/proc/cpuinfo`.
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The current time, UTC, as `YYYY-MM-DD HH:MM`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The entries of a JSON results file (an array of objects); none if it does not exist.
pub fn read_entries(path: &Path) -> Result<Vec<Value>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match serde_json::from_str::<Value>(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?
    {
        Value::Array(entries) => Ok(entries),
        _ => bail!("{} is not a JSON array of results", path.display()),
    }
}

/// `old` without the entries that `new` replaces (same value of every field in `key`), then
/// `new`.
pub fn merge_entries(old: Vec<Value>, new: &[Value], key: &[&str]) -> Vec<Value> {
    let same = |a: &Value, b: &Value| key.iter().all(|k| a.get(k) == b.get(k));
    let mut merged: Vec<Value> = old
        .into_iter()
        .filter(|o| !new.iter().any(|n| same(o, n)))
        .collect();
    merged.extend(new.iter().cloned());
    merged
}

/// Writes `entries` as a pretty JSON array, atomically.
pub fn write_entries(path: &Path, entries: &[Value]) -> Result<()> {
    atomic_write(path, |w| {
        serde_json::to_writer_pretty(&mut *w, entries)?;
        writeln!(w)?;
        Ok(())
    })
}

/// Writes a text file atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    atomic_write(path, |w| {
        w.write_all(text.as_bytes())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_and_quoting() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(shell_quote("--datasets"), "--datasets");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn merging_replaces_only_matching_entries() {
        let old = vec![
            json!({"dataset": "a", "setting": "demo", "v": 1}),
            json!({"dataset": "a", "setting": "tuned", "v": 2}),
            json!({"dataset": "b", "setting": "demo", "v": 3}),
        ];
        let new = [json!({"dataset": "a", "setting": "demo", "v": 4})];
        let merged = merge_entries(old, &new, &["dataset", "setting"]);
        assert_eq!(merged.len(), 3);
        assert!(merged.contains(&json!({"dataset": "a", "setting": "tuned", "v": 2})));
        assert!(merged.contains(&json!({"dataset": "a", "setting": "demo", "v": 4})));
        assert!(!merged.contains(&json!({"dataset": "a", "setting": "demo", "v": 1})));
    }
}
