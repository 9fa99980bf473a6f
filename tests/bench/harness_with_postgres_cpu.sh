#!/usr/bin/env bash
# harness_with_postgres_cpu.sh [run_bench.sh args...] — the shared harness, plus the CPU time the
# PostgreSQL server processes spent while it ran (read before the service's connections close, so
# its backends are still there to be read). Use it in place of the harness:
#
#   HARNESS=tests/bench/harness_with_postgres_cpu.sh tests/bench/run_service_bench.sh 18081 --only b
#
# Prints `postgres_cpu_s: N` after the harness's SUMMARY; divide by the flows (warm-up included:
# the harness's flows_server_cpu_ms_per_flow counts the same way) for PostgreSQL's CPU per flow.
# It counts every `postgres` process on the machine: run it with nothing else using the server.
# Not a test: pytest does not collect it.
set -uo pipefail
harness=${BENCH_HARNESS:-/work/shared/bench/harness/run_bench.sh}
postgres_ticks() {
  local total=0 fields
  for pid in $(pgrep -x postgres); do
    read -ra fields < <(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + fields[11] + fields[12]))   # utime + stime, in clock ticks
  done
  echo "$total"
}
before=$(postgres_ticks)
"$harness" "$@"
status=$?
after=$(postgres_ticks)
echo "postgres_cpu_s: $(python3 -c "import os; print(f'{($after - $before) / os.sysconf(\"SC_CLK_TCK\"):.2f}')")"
exit $status
