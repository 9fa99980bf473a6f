"""The `payments` command line: `serve`, `migrate`, `token` and `--version`."""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from importlib.metadata import version
from urllib.parse import urlsplit

from entrypoints.config import ConfigError, load_config, redacted_url

ROLES = ("admin", "service")
DISTRIBUTION = "membership-payments"
CONNECT_TIMEOUT_SECONDS = 10
# Exit status of a migration that failed on the database itself and said why in one line.
DATABASE_UNUSABLE = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="payments",
        description="Payments and membership service: receives, plans and payment-provider plugins.",
        epilog="Configuration comes from PAYMENTS_* environment variables (see README.md).",
    )
    parser.add_argument("--version", action="version", version=f"payments {version(DISTRIBUTION)}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API (migrates the database first)")
    serve.add_argument("--host", help="interface to listen on (default PAYMENTS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default PAYMENTS_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (default 1)")
    commands.add_parser("migrate", help="create or upgrade the database schema, then exit")
    token = commands.add_parser("token", help="print a development bearer token for USER")
    token.add_argument("user", metavar="USER", help="the user id (the token's `sub`)")
    token.add_argument("--role", choices=ROLES, help="grant a role")
    token.add_argument("--ttl", type=int, default=86400,
                       help="lifetime in seconds, 1 to PAYMENTS_JWT_MAX_TTL_SECONDS (default 86400)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(os.environ, host=getattr(args, "host", None), port=getattr(args, "port", None))
    except ConfigError as error:
        print(f"payments: configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "token":
        if not 1 <= args.ttl <= config.jwt_max_ttl_seconds:  # the server would refuse the token (401)
            print(f"payments: --ttl must be between 1 and {config.jwt_max_ttl_seconds} seconds "
                  f"(PAYMENTS_JWT_MAX_TTL_SECONDS), not {args.ttl}", file=sys.stderr)
            return 2
        print(mint_token(config.jwt_secret, args.user, args.role, args.ttl))
        return 0
    if args.command == "migrate":
        if migrate_database(config.database_url) != 0:
            return 1
        print(f"payments: schema is up to date ({redacted_url(config.database_url)})")
        return 0
    from entrypoints.http.server import serve

    return serve(config, workers=args.workers)


def mint_token(secret: str, user: str, role: str | None, ttl: int) -> str:
    import jwt

    claims: dict[str, object] = {"sub": user, "iat": int(time.time()), "exp": int(time.time()) + ttl}
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm="HS256")


def migrate_database(url: str) -> int:
    """Migrate the database at `url` (`payments migrate`, and `payments serve` in a child
    process). A database that cannot be reached or opened (server down, unknown host, missing
    database, refused login, a SQLite file that cannot be created) ends it with one line on
    stderr naming the URL without its password, and `DATABASE_UNUSABLE`; what goes wrong after
    connecting is a bug and keeps its traceback."""
    from adapters.sql.migration import migrate

    problem = database_problem(url)
    if problem is not None:
        print(f"payments: cannot use the database {redacted_url(url)} (PAYMENTS_DATABASE_URL): {problem}",
              file=sys.stderr)
        return DATABASE_UNUSABLE
    migrate(url)
    return 0


def database_problem(url: str) -> str | None:
    """Why no connection to the database at `url` can be made (the driver's words on one line,
    without the password), or None when one can."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from adapters.sql.migration import sync_url

    try:
        target = sync_url(url)
        options = {} if target.startswith("sqlite") else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        engine = sa.create_engine(target, poolclass=NullPool, connect_args=options)
        try:
            with engine.connect():
                return None
        finally:
            engine.dispose()
    except sa.exc.DBAPIError as error:
        reason = str(error.orig)
    except (ValueError, sa.exc.ArgumentError) as error:
        reason = str(error)
    reason = re.sub(r"\s+", " ", reason.removeprefix("connection failed: ")).strip()
    password = urlsplit(url).password
    return reason.replace(password, "***") if password else reason


if __name__ == "__main__":
    sys.exit(main())
