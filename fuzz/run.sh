#!/usr/bin/env bash
# Runs the `fields` fuzz target for SECONDS (default 600) with one worker,
# starting from the checked-in seeds and whatever earlier runs left in
# fuzz/corpus/. Installs cargo-fuzz first if it is missing; needs a nightly
# toolchain (`rustup toolchain install nightly`).
#
#   fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-600}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# Seeds are copied rather than passed as a second corpus directory, so that
# libFuzzer writes its finds to corpus/ and never into the checked-in seeds.
mkdir -p corpus/fields
cp corpus-seed/* corpus/fields/

# No -jobs or -workers: one fuzzing process, as the machines it runs on are
# small and shared.
# -max_len: the service's default body limit (16 KiB) plus room for the two
# header bytes and a content type line.
exec cargo +nightly fuzz run fields corpus/fields -- \
  -max_total_time="$seconds" \
  -dict=fields.dict \
  -max_len=16448 \
  -timeout=10 \
  -print_final_stats=1 \
  "$@"
