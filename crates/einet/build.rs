//! Records the commit the `einet` library is built from as `EINET_BUILD_COMMIT`
//! (`git rev-parse --short HEAD`, with `+changes` when tracked source files differ from it),
//! so that results name the code that produced them wherever a binary runs, and
//! `einet --version` as `EINET_VERSION`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The source that goes into the binary, relative to the workspace root.
const SOURCES: [&str; 5] = ["crates", "kernels", "benches", "Cargo.toml", "Cargo.lock"];

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let commit = git(&root, &["rev-parse", "--short", "HEAD"]).filter(|c| !c.is_empty());
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        // A new commit moves HEAD or a branch; staging changes the index.
        for p in ["HEAD", "index", "refs", "packed-refs"] {
            let path = Path::new(&git_dir).join(p);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    for s in SOURCES {
        println!("cargo:rerun-if-changed={}", root.join(s).display());
    }
    let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    status.extend(SOURCES);
    let dirty = git(&root, &status).is_some_and(|s| !s.is_empty());
    let value = match commit {
        Some(c) if dirty => format!("{c}+changes"),
        Some(c) => c,
        None => String::new(),
    };
    println!("cargo:rustc-env=EINET_BUILD_COMMIT={value}");
    let version = env!("CARGO_PKG_VERSION");
    let long = if value.is_empty() {
        version.to_string()
    } else {
        format!("{version} (commit {value})")
    };
    println!("cargo:rustc-env=EINET_VERSION={long}");
}
