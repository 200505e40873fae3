//! Result files that several runs add to.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::backend_arg::RunArgs;
use crate::output::atomic_write;

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
