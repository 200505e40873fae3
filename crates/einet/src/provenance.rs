//! Where and how a run was made: command line, commit, machine, device and time, for result
//! files that must name the code and hardware that produced them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::device::Device;

/// `git rev-parse --short HEAD` when this library was built, with `+changes` when tracked
/// source files differed from it; empty when built outside git.
pub const BUILD_COMMIT: &str = env!("EINET_BUILD_COMMIT");
/// The version, with the commit when known: `0.1.0 (commit abc1234)`.
pub const VERSION: &str = env!("EINET_VERSION");

/// Where and how a run was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// The provenance of this process, running on `device`.
    pub fn collect(device: &Device) -> Provenance {
        Provenance {
            command: command_line(),
            commit: build_commit(),
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(),
            threads: device.threads(),
            device: device.device_name(),
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
    let threads = if p["threads"] == 1 {
        "thread"
    } else {
        "threads"
    };
    let mut line = format!(
        "{} logical CPUs ({}), {} {threads}",
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

/// The commit this library was built from (`git rev-parse --short HEAD` at build time, with
/// `+changes` when its tracked source differed from it); `None` when built outside git.
pub fn build_commit() -> Option<String> {
    Some(BUILD_COMMIT)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_quoting() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(shell_quote("--datasets"), "--datasets");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
