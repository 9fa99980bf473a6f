"""The shared harness against the FastAPI peer and this service, one after the other in one run,
and every figure of its SUMMARY printed side by side with the ratio to the peer (issue 22).

Runs, in order: `../shared/bench/fastapi-peer/bench_peer.sh`, then
`tests/bench/run_service_bench.sh` with every feature on (the default: Redis rate limits, risk,
the outbox to a local receiver, an experiment running, every plugin loaded), then with
`FEATURES=off`. Each writes its full output to the log directory; the table is printed at the
end. Run it on a quiet machine: the load generator, the servers and PostgreSQL share the cores.

    .venv/bin/python tests/bench/side_by_side.py [--port 18080] [--logs DIR] [harness args...]

Not a test: pytest does not collect it (no test_ prefix).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEER = REPO.parent / "shared/bench/fastapi-peer/bench_peer.sh"
SERVICE = REPO / "tests/bench/run_service_bench.sh"
# The figures issue 22 names first, then the rest of the SUMMARY in the harness's order.
HEADLINE = ("poll_rps", "poll_p50_ms", "poll_p99_ms", "poll_server_cpu_ms_per_req", "flows_per_s",
            "flow_p50_ms", "flow_p99_ms", "flows_server_cpu_ms_per_flow", "server_rss_peak_max_process_mb",
            "verify")
# Lower is better for these: the ratio column reads "n× less" (or "n× more") for them.
LOWER_IS_BETTER = re.compile(r"(_ms|_mb)(_|$)")
# Ratios are printed for these only (the rest are settings, checks or shares of the machine).
COMPARED = (*HEADLINE, "poll_requests", "purchase_p50_ms", "purchase_p99_ms", "confirm_p50_ms", "confirm_p99_ms",
            "flows_ok", "server_rss_peak_sum_mb")


def summary(text: str) -> dict[str, str]:
    block = re.search(r"==== SUMMARY ====\n(.*?)\n==== END ====", text, re.DOTALL)
    if block is None:
        return {}
    return dict(line.split(": ", 1) for line in block.group(1).splitlines() if ": " in line)


def run(name: str, command: list[str], env: dict[str, str], logs: Path) -> dict[str, str]:
    print(f"--- {name}: {' '.join(command)}", flush=True)
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    (logs / f"{name}.log").write_text(out.stdout + "\n--- stderr\n" + out.stderr)
    figures = summary(out.stdout)
    if not figures:
        sys.exit(f"{name} printed no SUMMARY (exit {out.returncode}); see {logs / (name + '.log')}")
    return figures


def ratio(key: str, peer: str, ours: str) -> str:
    if key not in COMPARED:
        return ""
    try:
        p, o = float(peer), float(ours)
    except ValueError:
        return ""
    if p == 0 or o == 0:
        return ""
    if not LOWER_IS_BETTER.search(key):
        return f"{o / p:.2f}×"
    return f"{p / o:.2f}× less" if o <= p else f"{o / p:.2f}× more"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18080, help="the peer's port; the service uses the next two")
    parser.add_argument("--logs", type=Path, default=None, help="where each run's full output goes")
    args, harness = parser.parse_known_args()
    logs = args.logs or Path(tempfile.mkdtemp(prefix="side-by-side."))
    logs.mkdir(parents=True, exist_ok=True)
    runs = {
        "peer": run("peer", [str(PEER), str(args.port), *harness], dict(os.environ), logs),
        "on": run("features-on", [str(SERVICE), str(args.port + 1), *harness], {**os.environ, "FEATURES": "on"}, logs),
        "off": run("features-off", [str(SERVICE), str(args.port + 2), *harness], {**os.environ, "FEATURES": "off"},
                   logs),
    }
    keys = [k for k in HEADLINE if k in runs["peer"]] + [k for k in runs["peer"] if k not in HEADLINE]
    print(f"\nlogs: {logs}\n")
    print("| figure | FastAPI peer | service, features on | on vs peer | features off | off vs peer |")
    print("|---|---|---|---|---|---|")
    for key in keys:
        peer, on, off = (runs[r].get(key, "–") for r in ("peer", "on", "off"))
        print(f"| {key} | {peer} | {on} | {ratio(key, peer, on)} | {off} | {ratio(key, peer, off)} |")
    return 0 if all(r.get("verify") == "ok" for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
