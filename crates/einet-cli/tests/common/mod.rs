//! Helpers shared by the end-to-end tests of the `einet` binary. Each test binary uses a
//! subset of them, hence the `allow(dead_code)` on those some binaries leave unused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `einet` binary under test.
pub const EINET: &str = env!("CARGO_BIN_EXE_einet");

/// The repository's shipped data folder.
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"))
}

/// Runs `einet args…` in `cwd` with no `EINET_DATA` in the environment.
pub fn einet_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(EINET)
        .args(args)
        .current_dir(cwd)
        .env_remove("EINET_DATA")
        .output()
        .expect("the einet binary runs")
}

/// Lossy UTF-8 text of a process output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `einet args…` in `cwd`, asserts success and returns stdout and stderr.
#[allow(dead_code)]
pub fn ok_with_stderr(cwd: &Path, args: &[&str]) -> (String, String) {
    let out = einet_in(cwd, args);
    assert!(
        out.status.success(),
        "einet {args:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// Runs `einet args…` in `cwd`, asserts success and returns stdout.
#[allow(dead_code)]
pub fn ok(cwd: &Path, args: &[&str]) -> String {
    ok_with_stderr(cwd, args).0
}

/// Runs `einet args…` in `cwd` and asserts a clean failure ([`assert_clean_failure`]);
/// returns stderr after any warnings.
#[allow(dead_code)]
pub fn fails(cwd: &Path, args: &[&str]) -> String {
    assert_clean_failure(args, &einet_in(cwd, args))
}

/// The hint paragraph clap appends to its own parse errors.
const CLAP_HINT: &str = "\n\nFor more information, try '--help'.\n";

/// Asserts that `out` is a clean failure of `einet args…`: a non-zero exit, no panic, and a
/// stderr that is one paragraph (no blank line) starting with `error:` after any one-line
/// warnings, as the README promises; the one exception is [`CLAP_HINT`] after an option the
/// parser refused. Returns stderr after the warnings.
#[allow(dead_code)]
pub fn assert_clean_failure(args: &[&str], out: &Output) -> String {
    // Warnings printed before the failure (one line each) come first.
    let err: String = text(&out.stderr)
        .split_inclusive('\n')
        .skip_while(|l| l.starts_with("warning: "))
        .collect();
    assert!(
        !out.status.success(),
        "einet {args:?} succeeded but should fail:\n{}",
        text(&out.stdout)
    );
    let message = err.strip_suffix(CLAP_HINT).unwrap_or(&err).trim_end();
    assert!(
        message.starts_with("error:") && !message.lines().any(|l| l.trim().is_empty()),
        "einet {args:?}: stderr is not one `error:` paragraph: {err:?}"
    );
    assert!(!err.contains("panicked"), "einet {args:?} panicked: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "einet {args:?}: {err}");
    err
}
