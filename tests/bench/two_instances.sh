#!/usr/bin/env bash
# two_instances.sh [PORT1] [PORT2] — scale-out check (issue 22, docs/scaling.md): two separate
# `payments serve` instances (two processes on two ports, WORKERS each, default 1) on ONE fresh
# PostgreSQL database, and the shared harness's flows phase (b):
#
#   1. against instance 1 alone                      → flows/s of one instance
#   2. two harness processes at once, one per instance → flows/s of each, and their sum
#
# with the CPU seconds of every `postgres` process and of each instance during each run, so the
# PostgreSQL share of the machine is visible. Rate limits go through Redis (REDIS_URL) as in
# production; both instances share the mock provider's state file.
#
#   tests/bench/two_instances.sh                     # ports 18091/18092, 1 worker each, 15 s, 8 connections
#   WORKERS=2 DURATION=20 CONCURRENCY=8 tests/bench/two_instances.sh 18091 18092
#
# Why 1 worker each by default: this box has 2 cores, so two instances of 1 worker are 2 server
# processes, the same as the usual single instance of 2 workers; more processes than cores only
# measure the scheduler. On 2 cores shared with the harness and PostgreSQL, the sum cannot grow
# much: what this run shows there is where the CPU goes, not a scaling curve (docs/scaling.md).
#
# Knobs: WORKERS (1), DURATION (15), CONCURRENCY (8, per harness), BENCH_DB (payments_bench_two),
# PG_ADMIN_URL, PAYMENTS_VENV, HARNESS (/work/shared/bench/harness/run_bench.sh), REDIS_URL
# (redis://127.0.0.1:6379/13). Not a test: pytest does not collect it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
port1=${1:-18091}; port2=${2:-18092}
admin=${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
db=${BENCH_DB:-payments_bench_two}
venv=${PAYMENTS_VENV:-$repo/.venv}
harness=${HARNESS:-/work/shared/bench/harness/run_bench.sh}
workers=${WORKERS:-1}; duration=${DURATION:-15}; concurrency=${CONCURRENCY:-8}
workdir=$(mktemp -d /tmp/payments-two.XXXX)

psql "$admin" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export PAYMENTS_DATABASE_URL=${admin%/*}/$db
export PAYMENTS_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export PAYMENTS_MOCK_WEBHOOK_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export PAYMENTS_MOCK_STATE_PATH=$workdir/mock-state.sqlite3
export PAYMENTS_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/13}
export PAYMENTS_RATE_LIMIT_PER_MINUTE=${PAYMENTS_RATE_LIMIT_PER_MINUTE:-1000000}
export PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE=${PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE:-1000000}
export PAYMENTS_RISK_DAILY_LIMIT=${PAYMENTS_RISK_DAILY_LIMIT:-1000000000000}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$admin" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  echo "server logs: $workdir/server-*.log"
}
trap cleanup EXIT

start() {   # start PORT: an instance, waited for (/healthz); the first one migrates the database
  local port=$1 pid
  worker_args=(); [[ $workers -gt 1 ]] && worker_args=(--workers "$workers")
  (cd "$workdir" && exec "$venv/bin/payments" serve --port "$port" "${worker_args[@]}") >"$workdir/server-$port.log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "instance on $port exited:"; tail -30 "$workdir/server-$port.log"; exit 1; }
    sleep 0.5
  done
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "instance on $port did not start"; exit 1; }
}
start "$port1"   # one after the other: the second finds the schema migrated
start "$port2"
sleep 2          # every worker up (healthz answers from the first)

ticks() {   # ticks all|PID: utime+stime of every postgres process, or of PID and its children
  local total=0 fields list
  if [[ $1 == all ]]; then list=$(pgrep -x postgres); else list="$1 $(pgrep -P "$1" || true)"; fi
  for p in $list; do
    read -ra fields < <(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}
seconds() { python3 -c "import os; print(f'{$1 / os.sysconf(\"SC_CLK_TCK\"):.1f}')"; }
flows() { awk -F': ' '/^flows_per_s:/ {printf "%.1f", $2}' "$1"; }
run_harness() {   # run_harness PORT PID OUT
  "$harness" --url "http://127.0.0.1:$1" --jwt-secret "$PAYMENTS_JWT_SECRET" \
    --mock-secret "$PAYMENTS_MOCK_WEBHOOK_SECRET" --pg-url "$PAYMENTS_DATABASE_URL" \
    --server-pids "$2" --only b --duration "$duration" --concurrency "$concurrency" >"$3" 2>&1
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $workers worker(s) per instance"

pg0=$(ticks all); s0=$(ticks "${pids[0]}"); t0=$(date +%s.%N)
run_harness "$port1" "${pids[0]}" "$workdir/one.out" || { echo "harness (one instance) failed:"; tail -20 "$workdir/one.out"; }
t1=$(date +%s.%N); pg1=$(ticks all); s1=$(ticks "${pids[0]}")
wall=$(python3 -c "print($t1 - $t0)")
echo "one instance:  flows/s $(flows "$workdir/one.out")  (instance CPU $(seconds $((s1 - s0))) s," \
     "postgres CPU $(seconds $((pg1 - pg0))) s over ${wall%.*} s of harness incl. set-up)"

pg0=$(ticks all); a0=$(ticks "${pids[0]}"); b0=$(ticks "${pids[1]}"); t0=$(date +%s.%N)
run_harness "$port1" "${pids[0]}" "$workdir/two-a.out" & h1=$!
run_harness "$port2" "${pids[1]}" "$workdir/two-b.out" & h2=$!
wait "$h1" || { echo "harness (instance 1 of 2) failed:"; tail -20 "$workdir/two-a.out"; }
wait "$h2" || { echo "harness (instance 2 of 2) failed:"; tail -20 "$workdir/two-b.out"; }
t1=$(date +%s.%N); pg1=$(ticks all); a1=$(ticks "${pids[0]}"); b1=$(ticks "${pids[1]}")
wall=$(python3 -c "print($t1 - $t0)")
fa=$(flows "$workdir/two-a.out"); fb=$(flows "$workdir/two-b.out")
echo "two instances: flows/s $fa + $fb = $(python3 -c "print(f'{${fa:-0} + ${fb:-0}:.1f}')")" \
     " (instance CPU $(seconds $((a1 - a0))) + $(seconds $((b1 - b0))) s, postgres CPU $(seconds $((pg1 - pg0))) s" \
     "over ${wall%.*} s)"
for f in one two-a two-b; do
  echo "  $f: $(grep -E '^(verify|flow_p99_ms|flows_machine_cpu_busy_pct|flows_conn_split):' "$workdir/$f.out" | tr '\n' ' ')"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
