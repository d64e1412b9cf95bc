//! The official Tencent Cloud Python SDK, at the versions pinned in
//! `tests/vectors/README.md`, in a virtual environment under `target/`.

use serde_json::Value;
use std::path::{Path, PathBuf};

const SDK_PACKAGES: [&str; 2] = [
    "tencentcloud-sdk-python-common==3.1.195",
    "tencentcloud-sdk-python-car==3.1.29",
];

/// The venv's python, with the pinned SDK installed (made once and reused;
/// a marker file records that the install finished). Needs python3 and PyPI.
pub async fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-sdk-venv");
    let marker = venv.join(format!("installed {}", SDK_PACKAGES.join(" ")));
    let python = venv.join("bin").join("python");
    if marker.exists() {
        return python;
    }

    let made = tokio::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .await
        .expect("python3 must be installed to run the official SDK against the simulator");
    assert!(
        made.status.success(),
        "python3 -m venv {} failed: {}",
        venv.display(),
        String::from_utf8_lossy(&made.stderr)
    );

    let installed = tokio::process::Command::new(venv.join("bin").join("pip"))
        .args(["install", "--disable-pip-version-check", "--quiet"])
        .args(SDK_PACKAGES)
        .output()
        .await
        .expect("the venv's pip could not be run");
    assert!(
        installed.status.success(),
        "pip could not install the pinned Tencent Cloud SDK ({}); this test needs PyPI: {}",
        SDK_PACKAGES.join(", "),
        String::from_utf8_lossy(&installed.stderr)
    );
    std::fs::write(&marker, "").unwrap();
    python
}

/// Runs `tests/sdk/python_sdk_call.py` against `127.0.0.1:port` and returns
/// its list of results: for each call, its action and the SDK's `response`
/// or `error`.
pub async fn call(python: &Path, port: u16, secret_id: &str, secret_key: &str) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/python_sdk_call.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args(["--endpoint", &format!("127.0.0.1:{port}")])
        .args(["--secret-id", secret_id, "--secret-key", secret_key])
        .args(["--user-id", "sdk-user", "--project-id", "cap-sdk"])
        // The SDK goes through `requests`, which would honour a proxy from
        // the environment even for loopback.
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "the SDK script printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
