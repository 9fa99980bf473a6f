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
#   FEATURES=off tests/bench/run_service_bench.sh 18081   # the bare service, for comparison
#
# With the whole product switched on (the default, FEATURES=on), as production runs it: rate limits
# through Redis (REDIS_URL, redis://127.0.0.1:6379/13; limits raised so the load is not refused, but
# the limiter runs on every request), risk checks, the outbox delivering every event to a local
# receiver answering 204, a price experiment created and started through the admin API, and every
# shipped plugin configured (wechat_pay, alipay, stripe with throwaway keys made in the work
# directory at run time) while the harness pays with the mock.
#
# Knobs: WORKERS (2), BENCH_DB (payments_bench), PG_ADMIN_URL (postgresql://postgres@127.0.0.1:5432/postgres),
# PAYMENTS_VENV (/work/main/.venv), HARNESS (/work/shared/bench/harness/run_bench.sh), FEATURES (on|off),
# REDIS_URL (redis://127.0.0.1:6379/13), SQL_LOG (1: PostgreSQL logs every statement on the bench
# database while the harness runs, and the script prints them per flow; for counting, not for figures).
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
features=${FEATURES:-on}
workdir=$(mktemp -d /tmp/payments-bench.XXXX)   # server log and the mock provider's state file
log=$workdir/server.log

psql "$admin" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
[[ ${SQL_LOG:-0} == 1 ]] && psql "$admin" -Xqc "ALTER DATABASE $db SET log_statement = 'all'"
export PAYMENTS_DATABASE_URL=${admin%/*}/$db
export PAYMENTS_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export PAYMENTS_MOCK_WEBHOOK_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export PAYMENTS_MOCK_STATE_PATH=$workdir/mock-state.sqlite3
# A load generator is what the rate limits and the daily amount refuse (docs/risk.md): lifted here
# unless set (the risk gate's statement still runs on every purchase).
export PAYMENTS_RATE_LIMIT_PER_MINUTE=${PAYMENTS_RATE_LIMIT_PER_MINUTE:-1000000}
export PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE=${PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE:-1000000}
export PAYMENTS_RISK_DAILY_LIMIT=${PAYMENTS_RISK_DAILY_LIMIT:-1000000000000}

receiver_pid=
if [[ $features == on ]]; then
  export PAYMENTS_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/13}
  # The outbox: every event POSTed to a receiver on this machine that answers 204 (events.md), an
  # aiohttp server (a threaded http.server before 2026-12-05 21:45 cost more CPU of the shared box).
  export PAYMENTS_EVENTS_SECRET=$(python3 -c 'import base64,os;print("whsec_"+base64.b64encode(os.urandom(32)).decode())')
  "$venv/bin/python" - "$workdir/receiver.port" >"$workdir/receiver.log" 2>&1 <<'PY' &
import asyncio, os, sys
from aiohttp import web

async def receive(request):   # reads the event and answers 204 on a keep-alive connection
    await request.read()
    return web.Response(status=204)

async def main():
    app = web.Application()
    app.router.add_post("/events", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(runner.addresses[0][1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    await asyncio.Event().wait()

asyncio.run(main())
PY
  receiver_pid=$!
  for _ in $(seq 40); do [[ -s $workdir/receiver.port ]] && break; sleep 0.25; done
  export PAYMENTS_EVENTS_URL=http://127.0.0.1:$(cat "$workdir/receiver.port")/events
  # Every shipped plugin loaded (routes name them); the harness pays with the mock. Throwaway keys.
  "$venv/bin/python" - "$workdir" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
for name in ("merchant", "wechat_platform", "alipay_app", "alipay_platform"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(f"{sys.argv[1]}/{name}.key.pem", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(f"{sys.argv[1]}/{name}.pub.pem", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
PY
  export PAYMENTS_METHOD_ROUTES=wechat_pay=wechat_pay,alipay=alipay,credit_card=stripe,mock=mock
  export PAYMENTS_WECHAT_PAY_MCHID=1900000001 PAYMENTS_WECHAT_PAY_APPID=wxbench0000000001
  export PAYMENTS_WECHAT_PAY_PRIVATE_KEY=$workdir/merchant.key.pem PAYMENTS_WECHAT_PAY_CERT_SERIAL=5157F09EFDC096DE15EBE81A47057A7232F1B8E1
  export PAYMENTS_WECHAT_PAY_API_V3_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  export PAYMENTS_WECHAT_PAY_PUBLIC_KEY=$workdir/wechat_platform.pub.pem PAYMENTS_WECHAT_PAY_PUBLIC_KEY_ID=PUB_KEY_ID_0100000000BENCH
  export PAYMENTS_WECHAT_PAY_API_BASE=http://127.0.0.1:9/wechat   # never called: the harness pays with the mock
  export PAYMENTS_ALIPAY_APP_ID=2021000000000001 PAYMENTS_ALIPAY_PRIVATE_KEY=$workdir/alipay_app.key.pem
  export PAYMENTS_ALIPAY_PUBLIC_KEY=$workdir/alipay_platform.pub.pem PAYMENTS_ALIPAY_GATEWAY=http://127.0.0.1:9/gateway.do
  export PAYMENTS_STRIPE_SECRET_KEY=sk_test_$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  export PAYMENTS_STRIPE_WEBHOOK_SECRETS=whsec_$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  export PAYMENTS_STRIPE_API_BASE=http://127.0.0.1:9/stripe
fi

(cd "$workdir" && exec "$venv/bin/payments" serve --port "$port" --workers "$workers") >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [[ -n $receiver_pid ]] && { kill -TERM "$receiver_pid" 2>/dev/null || true; wait "$receiver_pid" 2>/dev/null || true; }
  psql "$admin" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -f "$workdir"/*.pem   # the throwaway plugin keys
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

if [[ $features == on ]]; then   # a running price experiment: every purchase is assigned a variant
  admin_token=$("$venv/bin/payments" token bench-ops --role admin)
  api=http://127.0.0.1:$port/api/v1/admin/experiments
  curl -fsS -X POST "$api" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d '{"id": "bench", "variants": [{"id": "control", "weight": 50},
         {"id": "cheaper", "weight": 50, "receives": {"unit_price": 180}, "plans": {"pro": 2500}}]}' >/dev/null
  curl -fsS -X POST "$api/bench/start" -H "Authorization: Bearer $admin_token" >/dev/null
  echo "features on: redis $PAYMENTS_REDIS_URL, events to $PAYMENTS_EVENTS_URL, experiment 'bench' running," \
       "plugins ${PAYMENTS_METHOD_ROUTES}"
fi

status=0
pg_log=$(psql "$admin" -XAtc "SELECT pg_current_logfile()"); pg_log=${pg_log:+$(psql "$admin" -XAtc "SHOW data_directory")/$pg_log}
[[ -z $pg_log || ! -r $pg_log ]] && pg_log=$(ls -t /var/log/postgresql/*.log 2>/dev/null | head -1)
log_from=$( [[ -r $pg_log ]] && stat -c %s "$pg_log" || echo 0)
cpu_ticks() { local t=0 p; for p in "$@"; do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
redis_pids=$(pgrep -x redis-server || true)
receiver_from=$(cpu_ticks $receiver_pid); redis_from=$(cpu_ticks $redis_pids)
"$harness" --url "http://127.0.0.1:$port" --jwt-secret "$PAYMENTS_JWT_SECRET" \
  --mock-secret "$PAYMENTS_MOCK_WEBHOOK_SECRET" --pg-url "$PAYMENTS_DATABASE_URL" --server-pids "$pid" "$@" \
  | tee "$workdir/harness.out" || status=$?
flows=$(grep -oP '^flows_ok: \K[0-9]+' "$workdir/harness.out" || echo 0)
if [[ ${SQL_LOG:-0} == 1 && -r $pg_log ]]; then   # statements the service sent while the harness ran, per flow
  sleep 1
  tail -c +$((log_from + 1)) "$pg_log" | grep -E "@$db LOG:  (statement|execute)" | grep -v "application_name" \
    | sed -E 's/^.*LOG:  (statement|execute [^:]*): //' | cut -c1-90 | sort | uniq -c | sort -rn >"$workdir/statements.txt"
  echo "sql statements (log_statement=all) while the harness ran: $(awk '{n+=$1} END {print n}' "$workdir/statements.txt")" \
       "for $flows flows; by statement: $workdir/statements.txt"
fi
if [[ $features == on ]]; then   # every event delivered? (outbox rows left undelivered after a short wait)
  for _ in $(seq 20); do
    left=$(psql "$PAYMENTS_DATABASE_URL" -XAtc "SELECT count(*) FROM outbox_events WHERE status = 'pending'" 2>/dev/null || echo '?')
    [[ $left == 0 ]] && break; sleep 0.5
  done
  hz=$(getconf CLK_TCK)
  awk -v r=$(( $(cpu_ticks $receiver_pid) - receiver_from )) -v d=$(( $(cpu_ticks $redis_pids) - redis_from )) \
      -v hz="$hz" -v f="$flows" 'BEGIN { printf "outside the service while the harness ran: events receiver %.2f ms CPU per flow, redis-server %.2f ms per flow (%d flows)\n", 1000*r/hz/(f?f:1), 1000*d/hz/(f?f:1), f }'
  echo "outbox: $(psql "$PAYMENTS_DATABASE_URL" -XAtc "SELECT count(*) FROM outbox_events" 2>/dev/null || echo '?') events, $left undelivered"
fi
exit $status
