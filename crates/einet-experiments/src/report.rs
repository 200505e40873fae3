//! Result files that several runs add to: JSON arrays of entries, merged by key, written
//! atomically with a markdown report next to them.
//!
//! Entries are read back as JSON values, not as the typed records the experiments write:
//! a results file also holds entries of earlier runs, whose fields may differ, and merging
//! must keep them as they are.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

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

/// A typed result record as the JSON value of a results file entry.
pub fn entry<T: Serialize>(record: &T) -> Result<Value> {
    serde_json::to_value(record).context("cannot represent a result as JSON")
}

/// Writes `path` through `fill`, atomically ([`einet::core::write_atomic`]: a temporary file in
/// the same folder, renamed into place), so a failed run never leaves a partial file.
fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    einet::core::write_atomic(path, fill)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `entries` as a pretty JSON array, atomically.
pub fn write_entries(path: &Path, entries: &[Value]) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, entries)?;
        writeln!(w)?;
        Ok(())
    })
}

/// Writes a text file atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |w| {
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
