#!/usr/bin/env bash
# Profiles the poll path: car_server under callgrind, a line of users, then
# polls of random queued users; prints the instructions spent per poll and
# the functions that spend them. Instruction counts do not depend on what
# else the machine is doing, which makes them the before/after figure of a
# change to the hot path on a shared machine.
#
#   bench/profile.sh            # BENCH_USERS=10000 BENCH_SECONDS=20
#   bench/profile.sh floor      # the same polls against the floor handler
#   BENCH_CACHE_SIM=Y BENCH_USERS=100000 bench/profile.sh
#                               # also simulate the caches: misses per poll
#
# Needs valgrind (installed from Debian's packages when missing). The profile
# is left in target/bench/callgrind.out.<target>.1 for callgrind_annotate or
# kcachegrind.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGET=${1:-service}
USERS=${BENCH_USERS:-10000}
CACHE_SIM=no
[[ ${BENCH_CACHE_SIM:-N} == Y ]] && CACHE_SIM=yes
DURATION=${BENCH_SECONDS:-20}
PORT=${BENCH_PORT:-3111}
PROJECT=cap-bench
OUT_DIR=$ROOT/target/bench
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d)
SERVER_PID=
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

say() { echo "profile: $*" >&2; }

for tool in wrk valgrind; do
  if ! command -v $tool >/dev/null; then
    say "installing $tool (Debian package)"
    apt-get update -qq && apt-get install -y -qq $tool >/dev/null
  fi
done

say "building (profiling profile: release with line tables)"
cargo build --profile profiling --locked --quiet --bin car_server --example bench_floor
if [[ $TARGET == floor ]]; then
  BIN=$ROOT/target/profiling/examples/bench_floor
else
  BIN=$ROOT/target/profiling/car_server
fi
CALLGRIND_OUT=$OUT_DIR/callgrind.out.$TARGET
rm -f "$CALLGRIND_OUT" "$CALLGRIND_OUT".*

# Instrumentation starts only once the line is full, and stops before the
# shutdown, so that the counts are those of the polls.
(cd "$WORK" && exec env -i PATH="$PATH" SIMULATE=Y SIM_CAPACITY=0 BIND=127.0.0.1 PORT="$PORT" \
  ENQUEUE_TIMEOUT=1h RUST_LOG=info \
  valgrind --tool=callgrind --instr-atstart=no --cache-sim="${CACHE_SIM}" \
  --callgrind-out-file="$CALLGRIND_OUT" \
  "$BIN" >"$WORK/server.log" 2>&1) &
SERVER_PID=$!
for _ in $(seq 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

if [[ $TARGET == service ]]; then
  say "filling a line of $USERS"
  wrk -t1 -c8 -d1h -s bench/wrk/fill.lua "http://127.0.0.1:$PORT" -- "$USERS" "$PROJECT" 1 8 \
    >/dev/null 2>&1 &
  FILL=$!
  while :; do
    reply=$(curl -sS -X POST -H 'Content-Type: application/json' \
      --data "{\"UserId\":\"bench-probe\",\"ProjectId\":\"$PROJECT\"}" "http://127.0.0.1:$PORT/Enqueue")
    curl -sS -X POST -H 'Content-Type: application/json' --data '{"UserId":"bench-probe"}' \
      "http://127.0.0.1:$PORT/Dequeue" >/dev/null
    [[ $(grep -o '"Index":[0-9]*' <<<"$reply" | cut -d: -f2) -ge $USERS ]] && break
    sleep 0.5
  done
  kill -INT $FILL
  wait $FILL || true
fi

say "polling for ${DURATION}s under callgrind"
callgrind_control --instr=on "$SERVER_PID" >/dev/null
wrk -t1 -c8 -d"${DURATION}s" -s bench/wrk/poll.lua "http://127.0.0.1:$PORT" -- "$USERS" "$PROJECT" \
  >"$WORK/wrk.out"
callgrind_control --instr=off "$SERVER_PID" >/dev/null
callgrind_control --dump "$SERVER_PID" >/dev/null
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=

# The dump taken while the polls ran is part 1; the file valgrind writes at
# exit holds nothing, instrumentation being off by then.
PROFILE=$CALLGRIND_OUT.1
requests=$(sed -n 's/^RESULT requests=\([0-9]*\).*/\1/p' "$WORK/wrk.out")
total=$(callgrind_annotate "$PROFILE" 2>/dev/null | awk '/PROGRAM TOTALS/ && !seen { gsub(",", "", $1); print $1; seen = 1 }')
echo "polls: $requests; instructions: $total; per poll: $((total / requests))"
if [[ $CACHE_SIM == yes ]]; then
  # Columns, each with its percentage after it: Ir Dr Dw I1mr D1mr D1mw
  # ILmr DLmr DLmw. Callgrind's caches
  # start empty when instrumentation starts, so a user's entry polled for
  # the first time misses: with a line much larger than the polls, that is
  # what a poll of a random user costs once the line outgrows the caches.
  callgrind_annotate "$PROFILE" 2>/dev/null | awk -v n="$requests" '/PROGRAM TOTALS/ && !seen {
    for (i = 1; i <= 9; i++) { v[i] = $(2 * i - 1); gsub(",", "", v[i]) }
    printf "per poll: L1 data misses %.0f, last-level data misses %.1f\n", (v[5] + v[6]) / n, (v[8] + v[9]) / n
    seen = 1 }'
fi
# The 60 functions with the most inclusive instructions, per poll.
callgrind_annotate --inclusive=yes "$PROFILE" 2>/dev/null |
  awk -v n="$requests" '/^ *[0-9,]+ \(/ && shown < 61 {
    v = $1; gsub(",", "", v); shown++; printf "%9d/poll  %s\n", v / n, $0 }'
