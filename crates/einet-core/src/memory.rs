//! The memory budget: what einet may allocate for one thing (a model with its training
//! state, a batch's activations, a decompressed data file), checked before it is allocated
//! so that absurd sizes are refused with a message instead of aborting the process.
//!
//! The budget is the memory available to the process (Linux `MemAvailable`), or a smaller
//! limit a front end sets ([`set_limit`], the CLI's `--max-memory`).

use std::sync::atomic::{AtomicU64, Ordering};

/// The limit set by [`set_limit`]; `u64::MAX` when none is.
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Caps the budget at `bytes` (`None`: no cap beyond the available memory).
pub fn set_limit(bytes: Option<u64>) {
    LIMIT.store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The budget in bytes and where it comes from, if anything bounds it.
pub fn budget() -> Option<Budget> {
    let limit = LIMIT.load(Ordering::Relaxed);
    match available() {
        Some(available) if available < limit => Some(Budget::Available(available)),
        _ if limit < u64::MAX => Some(Budget::Limit(limit)),
        _ => None,
    }
}

/// What bounds the memory einet may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// The memory available to the process, in bytes.
    Available(u64),
    /// The limit set by [`set_limit`], in bytes.
    Limit(u64),
}

impl Budget {
    /// The budget in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            Budget::Available(b) | Budget::Limit(b) => b,
        }
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Budget::Available(b) => write!(f, "{} of memory is available", gigabytes(b)),
            Budget::Limit(b) => write!(f, "the memory limit is {}", gigabytes(b)),
        }
    }
}

/// `bytes` for people: in GB with one decimal, or MB, kB or bytes when smaller.
pub fn gigabytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..100_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

/// `Err` with a message naming `what`, the bytes it needs and the budget when `needed`
/// exceeds `budget`.
pub fn check(
    needed: u64,
    budget: Option<Budget>,
    what: impl FnOnce() -> String,
) -> Result<(), String> {
    match budget {
        Some(budget) if needed > budget.bytes() => Err(format!(
            "{} needs {}, but {budget}",
            what(),
            gigabytes(needed)
        )),
        _ => Ok(()),
    }
}

/// Memory available to this process (Linux `MemAvailable`), if known.
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Parses a size: bytes, or a number with a unit `K`, `M`, `G` or `T` (powers of 1000;
/// `KiB`, `MiB`, `GiB`, `TiB` for powers of 1024), e.g. `8G`, `512MiB`, `1.5G`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        _ => {
            return Err(format!(
                "'{s}' is not a size: unknown unit '{unit}' (use K, M, G, T or KiB, MiB, GiB, TiB)"
            ));
        }
    };
    match number.parse::<f64>() {
        Ok(x) if x > 0.0 && (x * scale).is_finite() && x * scale < u64::MAX as f64 => {
            Ok((x * scale).round().max(1.0) as u64)
        }
        _ => Err(format!(
            "'{s}' is not a size: expected a positive number of bytes such as 8G or 512MiB"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_bad_ones_are_named() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("8G"), Ok(8_000_000_000));
        assert_eq!(parse_size(" 1.5 gb "), Ok(1_500_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        for bad in ["", "0", "-1G", "abc", "5X", "1e30T", "nanG"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn checks_name_what_the_size_and_the_budget() {
        assert!(check(10, Some(Budget::Limit(10)), || "x".into()).is_ok());
        assert!(check(u64::MAX, None, || "x".into()).is_ok());
        let err = check(3_000_000_000, Some(Budget::Limit(2_000_000_000)), || {
            "the batch".into()
        })
        .unwrap_err();
        assert_eq!(
            err,
            "the batch needs 3.0 GB, but the memory limit is 2.0 GB"
        );
        let err = check(5_000_000, Some(Budget::Available(1_000_000)), || {
            "it".into()
        })
        .unwrap_err();
        assert_eq!(err, "it needs 5.0 MB, but 1.0 MB of memory is available");
        assert_eq!(gigabytes(999), "999 bytes");
        assert_eq!(gigabytes(1_500), "1.5 kB");
    }
}
