#!/usr/bin/env bash
# run_service_bench.sh [PORT] [extra run_bench.sh args...] — the shared harness against THIS service,
# end to end, the way shared/bench/fastapi-peer/bench_peer.sh runs it against the FastAPI peer:
# fresh PostgreSQL database, random secrets, `payments serve --workers N` (it migrates first) in the
# background, wait for /healthz, run the harness with the server's PID, then stop the server and
# drop the database (also on Ctrl-C or failure). Prints the harness output, SUMMARY block included.
#
#   tests/bench/run_service_bench.sh                      # port 18081, 2 workers, 15 s phases, 8 connections
#   tests/bench/run_service_bench.sh 18081 --duration 20 --only a,b
#   WORKERS=1 BENCH_DB=payments_bench2 tests/bench/run_service_bench.sh 18082
#
# Knobs: WORKERS (2), BENCH_DB (payments_bench), PG_ADMIN_URL (postgresql://postgres@127.0.0.1:5432/postgres),
# PAYMENTS_VENV (/work/main/.venv), HARNESS (/work/shared/bench/harness/run_bench.sh).
# Exit status: the harness's (1 when the balance check fails or polls saw non-2xx answers).
# Not a test: pytest does not collect it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
port=${1:-18081}; shift || true
admin=${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
db=${BENCH_DB:-payments_bench}
venv=${PAYMENTS_VENV:-$repo/.venv}
harness=${HARNESS:-/work/shared/bench/harness/run_bench.sh}
workers=${WORKERS:-2}
workdir=$(mktemp -d /tmp/payments-bench.XXXX)   # server log and the mock provider's state file
log=$workdir/server.log

psql "$admin" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export PAYMENTS_DATABASE_URL=${admin%/*}/$db
export PAYMENTS_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export PAYMENTS_MOCK_WEBHOOK_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export PAYMENTS_MOCK_STATE_PATH=$workdir/mock-state.sqlite3
# A load generator is what the rate limits and the daily amount refuse (docs/risk.md): lifted here
# unless set (the risk gate's statement still runs on every purchase).
export PAYMENTS_RATE_LIMIT_PER_MINUTE=${PAYMENTS_RATE_LIMIT_PER_MINUTE:-1000000}
export PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE=${PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE:-1000000}
export PAYMENTS_RISK_DAILY_LIMIT=${PAYMENTS_RISK_DAILY_LIMIT:-1000000000000}

(cd "$workdir" && exec "$venv/bin/payments" serve --port "$port" --workers "$workers") >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  psql "$admin" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  echo "server log: $log ($(wc -l <"$log") lines)"
}
trap cleanup EXIT

for _ in $(seq 120); do   # up to 60 s: migration + worker start-up
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "service did not start:"; tail -50 "$log"; exit 1; }
# /healthz answers once ONE worker is up; the harness counts the processes that take its connections
# right away, so also wait (≤ 30 s) until every worker holds its PostgreSQL connection (= app started).
for _ in $(seq 60); do
  procs=$( ( [[ $workers -gt 1 ]] && pgrep -P "$pid" || echo "$pid" ) | sed 's/^/pid=/' )
  ready=$(ss -Htnp state established '( dport = :5432 )' | grep -o 'pid=[0-9]*' | sort -u | grep -cxF "$procs" || true)
  [[ $ready -ge $workers ]] && break
  sleep 0.5
done

status=0
"$harness" --url "http://127.0.0.1:$port" --jwt-secret "$PAYMENTS_JWT_SECRET" \
  --mock-secret "$PAYMENTS_MOCK_WEBHOOK_SECRET" --pg-url "$PAYMENTS_DATABASE_URL" --server-pids "$pid" "$@" \
  || status=$?
exit $status
