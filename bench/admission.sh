#!/usr/bin/env bash
# Admission latency: from a StopProject to the head of the line seeing 10101
# (the head polling every 10 ms), and from K machines freed at once to K
# users admitted. bench/admission.rs describes the measurements;
# docs/BENCHMARKS.md holds the latest figures.
#
#   bench/admission.sh            # ROUNDS=200 FREED="1 10 50 100"
#
# Runs `car_server simulator` and a `car_server` pointed at it (CAR_ENDPOINT)
# on loopback ports, with the default settings otherwise: admission wakes at
# once when this service frees a machine, and the cloud client keeps to
# CAR_RATE_LIMIT (80 calls per second per action).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PORT=${BENCH_PORT:-3131}
SIM_PORT=$((PORT + 1))
SERVER_CPU=${BENCH_SERVER_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
if [[ ${BENCH_PIN:-Y} == Y && $(nproc) -ge 2 ]]; then
  PIN_SERVER=(taskset -c "$SERVER_CPU")
  PIN_LOAD=(taskset -c "$LOAD_CPU")
else
  PIN_SERVER=()
  PIN_LOAD=()
fi
KEY=(SECRET_ID=AKIDbenchadmission SECRET_KEY=bench-admission-secret-key)
WORK=$(mktemp -d)
PIDS=()
trap 'for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

cargo build --release --locked --quiet --bin car_server --example bench_admission

wait_listening() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "admission: nothing listens on port $1" >&2
  return 1
}

(cd "$WORK" && exec env -i PATH="$PATH" "${KEY[@]}" BIND=127.0.0.1 PORT="$SIM_PORT" \
  "${PIN_SERVER[@]}" "$ROOT/target/release/car_server" simulator >"$WORK/simulator.log" 2>&1) &
PIDS+=($!)
wait_listening "$SIM_PORT"
(cd "$WORK" && exec env -i PATH="$PATH" "${KEY[@]}" BIND=127.0.0.1 PORT="$PORT" \
  CAR_ENDPOINT="http://127.0.0.1:$SIM_PORT" \
  "${PIN_SERVER[@]}" "$ROOT/target/release/car_server" >"$WORK/server.log" 2>&1) &
PIDS+=($!)
wait_listening "$PORT"

SERVICE="http://127.0.0.1:$PORT" SIMULATOR="http://127.0.0.1:$SIM_PORT" \
  "${PIN_LOAD[@]}" "$ROOT/target/release/examples/bench_admission"
