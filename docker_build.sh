#!/usr/bin/env bash
# Builds the container image `cgserver` (the build runs inside Docker; no
# local Rust toolchain is needed).
set -euo pipefail
cd "$(dirname "$0")"
docker build -t cgserver .
