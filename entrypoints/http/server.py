"""`payments serve`: migrate once, then serve the app in one process, or in N worker processes
sharing one port (gunicorn with aiohttp's uvloop worker). Once it serves it prints one human
line on stdout (where it listens, the docs, the database, the providers), once however many
workers; a database it cannot use stops it with one line on stderr (`entrypoints.cli`)."""
from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import subprocess
import sys

from aiohttp import web

from entrypoints.cli import DATABASE_UNUSABLE
from entrypoints.config import Config, load_config, redacted_url
from entrypoints.logs import configure_logging, gunicorn_logger_class

log = logging.getLogger("payments.server")
# The URL goes through the environment: a process's arguments are public (`ps`, /proc/<pid>/cmdline).
MIGRATE_SCRIPT = ("import os, sys; from entrypoints.cli import migrate_database; "
                  "sys.exit(migrate_database(os.environ['PAYMENTS_DATABASE_URL']))")


async def app_factory(config: Config | None = None) -> web.Application:
    """Build the application (in a gunicorn worker: from the environment, after the fork), with
    the deadline on reading request bodies (`entrypoints/http/timeouts.py`)."""
    from entrypoints.container import build_container
    from entrypoints.http import timeouts
    from entrypoints.http.app import create_app

    config = config or load_config(os.environ)
    app = create_app(build_container(config))
    timeouts.install(app, timeouts.Timeouts.from_environ(config.environ))
    return app


def check_plugins(config: Config) -> str | None:
    """Load every routed provider plugin once before serving; the reason when one fails."""
    from adapters.clock import SystemClock
    from entrypoints.http_client import LazyHttpClient
    from plugins import PluginLoadError, discover

    client = LazyHttpClient()
    try:
        discover(set(config.method_routes.values()), config.environ, http=client, clock=SystemClock(),
                 production=config.is_production)
    except PluginLoadError as error:
        return str(error)
    finally:
        asyncio.run(client.aclose())
    return None


def ready_line(config: Config, workers: int = 1) -> str:
    """What `payments serve` prints once it serves: `payments: serving on http://127.0.0.1:8080 —
    docs http://127.0.0.1:8080/api/docs — database sqlite:///./payments.db — providers mock
    (wechat_pay, alipay, credit_card, mock)`; never the database password."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    listening = f"http://{host}:{config.port}"
    methods_of: dict[str, list[str]] = {}
    for method, provider in config.method_routes.items():
        methods_of.setdefault(provider, []).append(method)
    providers = ", ".join(f"{provider} ({', '.join(methods)})" for provider, methods in methods_of.items())
    line = (f"payments: serving on {listening} — docs {listening}/api/docs — database "
            f"{redacted_url(config.database_url)} — providers {providers or 'none'}")
    return line + (f" — {workers} workers" if workers > 1 else "")


def _announce(line: str, *_: object) -> None:
    print(line, flush=True)


def serve(config: Config, *, workers: int = 1) -> int:
    problem = check_plugins(config)
    if problem is not None:
        print(f"payments: cannot start: {problem}", file=sys.stderr)
        return 2
    from entrypoints.http.timeouts import Timeouts

    try:
        limits = Timeouts.from_environ(config.environ)
    except ValueError as error:
        print(f"payments: cannot start: {error}", file=sys.stderr)
        return 2
    configure_logging()
    if workers < 1:
        log.error("--workers must be at least 1")
        return 2
    # In a child process: the workers fork from this one, and must not inherit alembic and psycopg.
    migration = subprocess.run([sys.executable, "-c", MIGRATE_SCRIPT], check=False,
                               env={**os.environ, "PAYMENTS_DATABASE_URL": config.database_url})
    if migration.returncode == DATABASE_UNUSABLE:
        return 1  # the child said why, in one line
    if migration.returncode != 0:
        log.error("the database migration failed (exit code %s)", migration.returncode)
        return 1
    if config.uses_development_jwt_secret:
        log.warning("PAYMENTS_JWT_SECRET is not set: using the development secret (refused in production)")
    log.info("serving", extra={"host": config.host, "port": config.port, "workers": workers, "env": config.env})
    line = ready_line(config, workers)
    if workers == 1:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        # aiohttp calls `print` once every socket listens: the moment to say so.
        web.run_app(app_factory(config), host=config.host, port=config.port, access_log=None,
                    print=lambda _: _announce(line),
                    keepalive_timeout=limits.header_seconds)  # also bounds reading a request's headers
        return 0
    _GunicornServer(config, workers, limits.header_seconds, line).run()
    return 0


def _gunicorn_base():
    from gunicorn.app.base import BaseApplication

    return BaseApplication


class _GunicornServer(_gunicorn_base()):  # type: ignore[misc]
    def __init__(self, config: Config, workers: int, header_timeout: float, ready_line: str) -> None:
        self._config = config
        self._workers = workers
        self._header_timeout = header_timeout
        self._ready_line = ready_line
        # Shared with the workers (they fork from here): the first worker that serves announces
        # it; the others, and any worker that replaces one later, stay quiet.
        self._announced = multiprocessing.Value("b", 0)
        # Workers read the same checked settings from the environment; flags become variables.
        os.environ["PAYMENTS_HOST"], os.environ["PAYMENTS_PORT"] = config.host, str(config.port)
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self._config.host}:{self._config.port}")
        self.cfg.set("workers", self._workers)
        self.cfg.set("worker_class", "aiohttp.GunicornUVLoopWebWorker")
        self.cfg.set("accesslog", None)
        self.cfg.set("logger_class", gunicorn_logger_class)  # its handlers redact tokens too (entrypoints/logs.py)
        self.cfg.set("keepalive", max(1, math.ceil(self._header_timeout)))  # aiohttp's keepalive_timeout: also bounds reading headers
        self.cfg.set("graceful_timeout", 10)
        self.cfg.set("timeout", 60)
        self.cfg.set("control_socket_disable", True)  # one shared ~/.gunicorn socket would mix servers

    def load(self):
        async def worker_app() -> web.Application:
            app = await app_factory()
            app.on_startup.append(self._announce_once)  # last: after the app's own start-up
            return app

        return worker_app

    async def _announce_once(self, _app: web.Application) -> None:
        # The master listens already: connections wait in its backlog for this worker to accept.
        with self._announced.get_lock():
            if not self._announced.value:
                self._announced.value = 1
                _announce(self._ready_line)
