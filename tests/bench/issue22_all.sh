#!/usr/bin/env bash
# issue22_all.sh [LOG_DIR] — every benchmark issue 22 names, one after the other, each printing its
# figures beside the peer's or a plain implementation's; run on a quiet machine (~20 minutes on
# 2 cores). Each script's output goes to LOG_DIR/<name>.log and is echoed as it runs.
#
#   tests/bench/issue22_all.sh /tmp/issue22
#
# Not a test: pytest does not collect it.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
py=${PAYMENTS_VENV:-$repo/.venv}/bin/python
logs=${1:-$(mktemp -d /tmp/issue22.XXXX)}
mkdir -p "$logs"
status=0
step() {  # step NAME COMMAND...
  local name=$1; shift
  echo "=== $name: $* ($(date -u +%H:%M:%S))"
  "$@" 2>&1 | tee "$logs/$name.log" || status=1
}
cd "$repo"
step side_by_side  "$py" tests/bench/side_by_side.py --port 18080 --logs "$logs/harness"
step worker_memory "$py" tests/bench/worker_memory.py 18094 --duration 5
step notifications "$py" tests/bench/notifications.py
step rate_limiter  "$py" tests/bench/rate_limiter.py
step events        "$py" tests/bench/events_latency.py --workers 2 --idle 200 --burst 1000 --plain-idle 20
step renewals      "$py" tests/bench/renewals_scale.py --users 10000 --workers 4
step two_instances tests/bench/two_instances.sh 18091 18092
echo "logs: $logs (exit $status)"
exit $status
