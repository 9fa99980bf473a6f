"""Peak RSS (VmHWM) per worker of `payments serve --workers 2` with every shipped plugin loaded
(issue 22): runs tests/bench/run_service_bench.sh with the whole product on (PostgreSQL, Redis
rate limits on REDIS_URL, redis://127.0.0.1:6379/0 by default, the outbox to a local receiver,
wechat_pay, alipay, stripe configured with throwaway keys made at run time, the mock paying),
short phases of the shared harness (a poll burst, then a few hundred purchase → webhook flows),
and prints the harness's VmHWM per process (the master, then each worker), what a worker adds on
its first call to a real provider (the mock never calls out: httpx and the plugins' client are made
then, `entrypoints/http_client.py`), then the heaviest imports of a worker's start-up
(`python -X importtime`, cumulative, by top-level package).

    .venv/bin/python tests/bench/worker_memory.py [PORT] [--duration 3]

Memory is little disturbed by other load on the machine (unlike speed). Not a test: pytest does
not collect it (no test_ prefix)."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a worker imports once it has built its app, every plugin included.
WORKER_IMPORTS = ("entrypoints.http.server, entrypoints.container, entrypoints.http.app, "
                  "entrypoints.http.timeouts, plugins.mock.provider, plugins.wechat_pay.provider, "
                  "plugins.alipay.provider, plugins.stripe.provider")


def measure(port: int, duration: int) -> dict[str, float]:
    env = {**os.environ, "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
           "FEATURES": "on", "WORKERS": "2"}
    out = subprocess.run([str(REPO / "tests/bench/run_service_bench.sh"), str(port), "--duration", str(duration),
                          "--warmup", "1", "--only", "a,b"], env=env, capture_output=True, text=True, check=False)
    text = out.stdout
    per = re.search(r"^server_rss_per_process_mb: (.*)$", text, re.MULTILINE)
    flows = re.search(r"^flows_ok: (\d+)$", text, re.MULTILINE)
    verify = re.search(r"^verify: (\S+)$", text, re.MULTILINE)
    if out.returncode != 0 or per is None:
        sys.exit(f"the service bench failed (exit {out.returncode}):\n{text[-3000:]}\n{out.stderr[-2000:]}")
    figures = {pid: float(mb) for pid, mb in (item.split("=") for item in per.group(1).split())}
    master = min(figures, key=int)   # gunicorn's master starts first: the lowest PID
    print(f"flows {flows.group(1) if flows else '?'} (verify {verify.group(1) if verify else '?'}), "
          f"poll burst {duration} s; VmHWM per process:")
    for pid, mb in figures.items():
        print(f"  {'master' if pid == master else 'worker'} {pid}: {mb:.1f} MB")
    return {pid: mb for pid, mb in figures.items() if pid != master}


FIRST_PROVIDER_CALL = (
    "def rss():\n"
    "    with open('/proc/self/statm') as f:\n"
    "        return int(f.read().split()[1]) * 4 / 1024\n"
    f"import {WORKER_IMPORTS}\n"
    "from entrypoints.http_client import LazyHttpClient\n"
    "before = rss()\n"
    "LazyHttpClient()._real()\n"
    "print(f'{rss() - before:.1f}')\n"
)


def first_provider_call() -> None:
    """RSS a worker adds when a plugin first calls its provider (measured in a fresh interpreter
    after a worker's imports: the same modules, not the same heap)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", FIRST_PROVIDER_CALL], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True)
    print(f"a worker's first call to a real provider adds {run.stdout.strip()} MB (httpx and the plugins' client)")


def import_top(limit: int = 15) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {WORKER_IMPORTS}"],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True)
    by_package: dict[str, int] = {}
    for line in run.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        by_package[name.split(".")[0]] = by_package.get(name.split(".")[0], 0) + int(parts[0].split(":")[1])
    print("worker imports, self time summed by top-level package (ms):")
    for package, micros in sorted(by_package.items(), key=lambda kv: -kv[1])[:limit]:
        print(f"  {package:28s} {micros / 1000:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=18094)
    parser.add_argument("--duration", type=int, default=3, help="seconds of each harness phase (3)")
    args = parser.parse_args()
    workers = measure(args.port, args.duration)
    print(f"peak RSS per worker: max {max(workers.values()):.1f} MB")
    first_provider_call()
    import_top()


if __name__ == "__main__":
    main()
