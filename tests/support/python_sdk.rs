//! The official Tencent Cloud Python SDK, at the versions pinned in
//! `tests/vectors/README.md`, in a virtual environment under `target/`.

use serde_json::Value;
use std::path::{Path, PathBuf};

const SDK_PACKAGES: [&str; 2] = [
    "tencentcloud-sdk-python-common==3.1.195",
    "tencentcloud-sdk-python-car==3.1.29",
];

/// The venv's python, with the pinned SDK installed. Needs python3 and PyPI.
pub async fn python() -> PathBuf {
    super::venv::with_packages("python-sdk-venv", &SDK_PACKAGES)
        .await
        .join("bin")
        .join("python")
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
