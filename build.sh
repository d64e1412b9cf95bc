#!/usr/bin/env bash
# Builds the release binary into bin/car_server.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --locked
mkdir -p bin
cp target/release/car_server bin/car_server
echo "built bin/car_server"
