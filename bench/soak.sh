#!/usr/bin/env bash
# The soak: `car_server --simulate` on loopback under mixed traffic for a set
# time (bench/soak.rs describes the traffic and what counts as an error);
# stops by itself. Prints the error counts and the server's RSS at start and
# end; docs/BENCHMARKS.md holds the latest figures.
#
#   bench/soak.sh                 # SOAK_SECONDS=600 SOAK_PAGES=300
#   SOAK_CLOUD=separate bench/soak.sh
#                                 # the simulator as its own process, so that
#                                 # the RSS measured is the service's alone
#
# The service runs with SIM_CAPACITY=10 (machines per project) and otherwise
# default settings: users who stop polling are dropped after 30 s, admitted
# users who never start lapse after 30 s. At the end the service gets SIGTERM
# and must exit 0; its log is searched for panics and errors.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PORT=${BENCH_PORT:-3141}
SECONDS_TO_RUN=${SOAK_SECONDS:-600}
PAGES=${SOAK_PAGES:-300}
WORK=$(mktemp -d)
SERVER_PID=
SIMULATOR_PID=
trap 'kill "$SERVER_PID" "$SIMULATOR_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --locked --quiet --bin car_server --example bench_soak

wait_listening() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

if [[ ${SOAK_CLOUD:-simulate} == separate ]]; then
  # The in-process simulator keeps a counter and the latest request of every
  # user it ever saw (for tests), which grows with every page life; run it
  # apart so that it does not count in the service's RSS.
  KEY=(SECRET_ID=AKIDbenchsoak SECRET_KEY=bench-soak-secret-key)
  (cd "$WORK" && exec env -i PATH="$PATH" "${KEY[@]}" SIM_CAPACITY=10 BIND=127.0.0.1 \
    PORT=$((PORT + 1)) "$ROOT/target/release/car_server" simulator >"$WORK/simulator.log" 2>&1) &
  SIMULATOR_PID=$!
  wait_listening $((PORT + 1))
  CLOUD=("${KEY[@]}" CAR_ENDPOINT="http://127.0.0.1:$((PORT + 1))")
else
  CLOUD=(SIMULATE=Y SIM_CAPACITY=10)
fi
(cd "$WORK" && exec env -i PATH="$PATH" "${CLOUD[@]}" BIND=127.0.0.1 PORT="$PORT" \
  RUST_LOG=info "$ROOT/target/release/car_server" >"$WORK/server.log" 2>&1) &
SERVER_PID=$!
wait_listening "$PORT"

SERVICE="http://127.0.0.1:$PORT" SERVER_PID=$SERVER_PID SOAK_SECONDS=$SECONDS_TO_RUN SOAK_PAGES=$PAGES \
  "$ROOT/target/release/examples/bench_soak" | tee "$WORK/soak.out"

kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=
plain() { sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log"; }
echo "soak: server exit status after SIGTERM: $status"
echo "soak: server log: $(plain | grep -c ' INFO ') info, $(plain | grep -c ' WARN ') warn, $(plain | grep -c ' ERROR ') error lines, $(plain | grep -c 'panicked') panics"
# The warnings and errors, if any (none is the good case, hence `|| true`).
{ plain | grep -E ' (WARN|ERROR) |panicked' | grep -v 'SIMULATED CLOUD' || true; } |
  cut -c1-240 | sort | uniq -c | sort -rn | head -10
grep -q '^RESULT' "$WORK/soak.out" && [[ $status -eq 0 ]]
