#!/usr/bin/env bash
# The poll benchmark: how fast car_server answers POST /Enqueue for users
# already queued, with lines of 1k, 100k and 1M users, against the floor of a
# minimal axum handler measured in the same run. docs/BENCHMARKS.md explains
# the method and holds the latest figures.
#
#   bench/run.sh
#
# For each store and each line length N it: starts `car_server --simulate`
# with SIM_CAPACITY=0 (every project full, so users stay queued); warms it up;
# reads its RSS; fills one project's line with N users through the API;
# reads its RSS again; then polls random queued users for BENCH_SECONDS with
# BENCH_CONNECTIONS connections, first against the floor, then against the
# service. Results go to stdout and to target/bench/.
#
# Knobs (environment):
#   BENCH_USERS        line lengths              (default "1000 100000 1000000")
#   BENCH_STORES       memory and/or redis       (default "memory redis")
#   BENCH_SECONDS      seconds of polling        (default 20)
#   BENCH_CONNECTIONS  open connections          (default 64)
#   BENCH_PIN          pin the server and wrk to separate cores, Y/N (default Y
#                      with 2 or more cores)
#   BENCH_SERVER_CPU, BENCH_LOAD_CPU             (default 1 and 0)
#   BENCH_REDIS        Redis URL for the redis store (default redis://127.0.0.1:6379/0)
#   BENCH_PORT         first of the two loopback ports used (default 3101)
#
# The redis store is skipped, with the reason, when the service cannot open
# it (no Redis answering, or a build without the Redis store).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

USERS=${BENCH_USERS:-"1000 100000 1000000"}
STORES=${BENCH_STORES:-"memory redis"}
DURATION=${BENCH_SECONDS:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
REDIS_URL=${BENCH_REDIS:-redis://127.0.0.1:6379/0}
PORT=${BENCH_PORT:-3101}
FLOOR_PORT=$((PORT + 1))
PROJECT=cap-bench
# wrk threads: one per connection group; two keeps wrk on its one core busy
# without oversubscribing it.
THREADS=2

if [[ ${BENCH_PIN:-Y} == Y && $(nproc) -ge 2 ]]; then
  PIN_SERVER=(taskset -c "$SERVER_CPU")
  PIN_LOAD=(taskset -c "$LOAD_CPU")
  PINNING="server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU"
else
  PIN_SERVER=()
  PIN_LOAD=()
  PINNING="none"
fi

OUT_DIR=$ROOT/target/bench
mkdir -p "$OUT_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT=$OUT_DIR/poll-$STAMP.md
WORK=$(mktemp -d)
SERVER_PID=
FLOOR_PID=
WRK_PID=

cleanup() {
  for pid in $WRK_PID $SERVER_PID $FLOOR_PID; do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "bench: $*" >&2; }

# --- tools -----------------------------------------------------------------

if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in curl taskset; do
  command -v "$tool" >/dev/null || { say "needs $tool"; exit 1; }
done

say "building (release)"
cargo build --release --locked --quiet --bin car_server --example bench_floor
SERVER_BIN=$ROOT/target/release/car_server
FLOOR_BIN=$ROOT/target/release/examples/bench_floor

# --- helpers ---------------------------------------------------------------

# CPU time a process has used, in clock ticks (all its threads).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Resident set size in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Waits until something listens on the port, or the process dies.
wait_listening() {
  local port=$1 pid=$2
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

post() { # port path json
  curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' \
    --data "$3" "http://127.0.0.1:$1$2"
}

# The line's length, through the API: a probe user joins the end (its Index
# is the number of users ahead of it) and leaves again.
line_length() {
  local reply index
  reply=$(post "$PORT" /Enqueue "{\"UserId\":\"bench-probe\",\"ProjectId\":\"$PROJECT\"}")
  post "$PORT" /Dequeue '{"UserId":"bench-probe"}' >/dev/null
  index=$(grep -o '"Index":[0-9]*' <<<"$reply" | cut -d: -f2)
  echo "${index:--1}"
}

# Starts the service for one store; fails when it does not come up.
start_service() {
  local store=$1 prefix=$2
  local env=(PATH="$PATH" SIMULATE=Y SIM_CAPACITY=0 BIND=127.0.0.1 PORT="$PORT"
    ENQUEUE_TIMEOUT=1h RUST_LOG=info)
  if [[ $store == redis ]]; then
    env+=(REDIS_QUEUE=Y REDIS="$REDIS_URL" REDIS_PREFIX="$prefix")
  fi
  # From an empty directory with a clean environment, so that no .env or
  # exported setting of the developer's changes what is measured.
  (cd "$WORK" && exec env -i "${env[@]}" "${PIN_SERVER[@]}" "$SERVER_BIN" \
    >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  wait_listening "$PORT" "$SERVER_PID"
}

stop_service() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# Polls random users of the line on `port` for DURATION seconds; prints the
# wrk RESULT line followed by server_cpu=<percent of one core>.
poll() {
  local port=$1 server=$2 users=$3
  local before after
  before=$(cpu_ticks "$server")
  "${PIN_LOAD[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
    -s "$ROOT/bench/wrk/poll.lua" "http://127.0.0.1:$port" -- "$users" "$PROJECT" \
    >"$WORK/wrk.out" 2>&1
  after=$(cpu_ticks "$server")
  local result
  result=$(grep '^RESULT' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; return 1; }
  local seconds
  seconds=$(sed 's/.*seconds=\([0-9.]*\).*/\1/' <<<"$result")
  echo "$result server_cpu=$(awk -v t=$((after - before)) -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.0f", 100 * t / hz / s }')"
}

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

# --- the run ---------------------------------------------------------------

MACHINE="$(nproc) × $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(free -g | awk '/Mem:/ { print $2 }') GiB"
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "machine: $MACHINE; load average $LOAD_AT_START; pinning: $PINNING"

(exec env -i PORT="$FLOOR_PORT" "${PIN_SERVER[@]}" "$FLOOR_BIN" >"$WORK/floor.log" 2>&1) &
FLOOR_PID=$!
wait_listening "$FLOOR_PORT" "$FLOOR_PID" || { say "the floor did not start"; exit 1; }

ROWS=()
for store in $STORES; do
  for users in $USERS; do
    prefix="car_bench:$STAMP:$users:"
    if ! start_service "$store" "$prefix"; then
      reason=$(grep -v '^\s*$' "$WORK/server.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
      say "$store store skipped: the service did not start: $reason"
      ROWS+=("| $store | – | skipped: ${reason//|/\/} |||||||||")
      SERVER_PID=
      break
    fi

    # Warm up (connections, buffers, worker threads) without queuing anyone,
    # so that the baseline RSS is that of a service in use.
    "${PIN_LOAD[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$ROOT/bench/wrk/dequeue.lua" \
      "http://127.0.0.1:$PORT" >/dev/null
    rss_before=$(rss_kib "$SERVER_PID")

    say "$store: filling a line of $users"
    fill_started=$(date +%s.%N)
    "${PIN_LOAD[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d1h -s "$ROOT/bench/wrk/fill.lua" \
      "http://127.0.0.1:$PORT" -- "$users" "$PROJECT" "$THREADS" "$CONNECTIONS" \
      >"$WORK/fill.out" 2>&1 &
    WRK_PID=$!
    while length=$(line_length); [[ $length -lt $users ]]; do
      kill -0 "$WRK_PID" 2>/dev/null || { say "the fill stopped early"; exit 1; }
      sleep 0.2
    done
    fill_seconds=$(awk -v s="$fill_started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
    WRK_PID=
    if [[ $length -ne $users ]]; then
      say "the line holds $length users, not $users"
      exit 1
    fi
    sleep 1
    rss_after=$(rss_kib "$SERVER_PID")
    bytes_per_user=$(((rss_after - rss_before) * 1024 / users))
    say "$store: $users queued in ${fill_seconds}s; RSS ${rss_before} → ${rss_after} KiB"

    floor=$(poll "$FLOOR_PORT" "$FLOOR_PID" "$users")
    say "floor:   $floor"
    service=$(poll "$PORT" "$SERVER_PID" "$users")
    say "service: $service"
    # A short pass that reads every answer: all must be 10100.
    wrong=$(BENCH_CHECK=Y "${PIN_LOAD[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d2s \
      -s "$ROOT/bench/wrk/poll.lua" "http://127.0.0.1:$PORT" -- "$users" "$PROJECT" |
      sed -n 's/^RESULT.* wrong=\([0-9]*\).*/\1/p')
    if [[ $(line_length) -ne $users ]]; then
      say "the line changed length while polling"
      exit 1
    fi
    stop_service
    if [[ $store == redis ]] && command -v redis-cli >/dev/null; then
      redis-cli -u "$REDIS_URL" --scan --pattern "${prefix}*" |
        xargs -r -n 1000 redis-cli -u "$REDIS_URL" del >/dev/null
    fi

    rps=$(field "$service" rps)
    floor_rps=$(field "$floor" rps)
    ratio=$(awk -v a="$rps" -v b="$floor_rps" 'BEGIN { printf "%.2f", a / b }')
    # Throughput per CPU-second of the server, against the floor's: the same
    # comparison with the noise of other processes on the machine divided out.
    cpu_ratio=$(awk -v a="$rps" -v ac="$(field "$service" server_cpu)" \
      -v b="$floor_rps" -v bc="$(field "$floor" server_cpu)" \
      'BEGIN { printf "%.2f", (a / ac) / (b / bc) }')
    ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
    ROWS+=("| $store | $users | $(printf %.0f "$rps") | $(printf %.0f "$floor_rps") | $ratio | $cpu_ratio | $(ms "$(field "$service" p50_us)") | $(ms "$(field "$service" p99_us)") | $(field "$service" server_cpu)% / $(field "$floor" server_cpu)% | $bytes_per_user | $wrong / $(($(field "$service" socket_errors) + $(field "$service" status_errors))) | $fill_seconds |")
    echo "$store $users $service" >>"$OUT_DIR/poll-$STAMP.raw"
    echo "floor $users $floor" >>"$OUT_DIR/poll-$STAMP.raw"
  done
done

{
  echo "## Poll benchmark, $STAMP"
  echo
  echo "Machine: $MACHINE; load average at start $LOAD_AT_START; pinning: $PINNING;"
  echo "$CONNECTIONS connections, ${DURATION}s of polling per row; wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)."
  echo
  echo "| store | queued | polls/s | floor/s | ratio | per-CPU ratio | p50 ms | p99 ms | server CPU (service / floor) | RSS bytes/user | not 10100 / errors | fill s |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${ROWS[@]}"
} | tee "$REPORT"
say "written to $REPORT"
