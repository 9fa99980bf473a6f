"""The `payments` command line: `serve`, `migrate` and `token`."""
from __future__ import annotations

import argparse
import os
import sys
import time

from entrypoints.config import ConfigError, load_config

ROLES = ("admin", "service")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="payments",
        description="Payments and membership service: receives, plans and payment-provider plugins.",
        epilog="Configuration comes from PAYMENTS_* environment variables (see README.md).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API (migrates the database first)")
    serve.add_argument("--host", help="interface to listen on (default PAYMENTS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default PAYMENTS_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (default 1)")
    commands.add_parser("migrate", help="create or upgrade the database schema, then exit")
    token = commands.add_parser("token", help="print a development bearer token for USER")
    token.add_argument("user", metavar="USER", help="the user id (the token's `sub`)")
    token.add_argument("--role", choices=ROLES, help="grant a role")
    token.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds (default 86400)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(os.environ, host=getattr(args, "host", None), port=getattr(args, "port", None))
    except ConfigError as error:
        print(f"payments: configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "token":
        print(mint_token(config.jwt_secret, args.user, args.role, args.ttl))
        return 0
    if args.command == "migrate":
        from adapters.sql.migration import migrate

        migrate(config.database_url)
        print(f"payments: schema is up to date ({_redacted(config.database_url)})")
        return 0
    from entrypoints.http.server import serve

    return serve(config, workers=args.workers)


def mint_token(secret: str, user: str, role: str | None, ttl: int) -> str:
    import jwt

    claims: dict[str, object] = {"sub": user, "iat": int(time.time()), "exp": int(time.time()) + ttl}
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm="HS256")


def _redacted(url: str) -> str:
    """A database URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}{sep}{credentials.split(':')[0]}@{host}"


if __name__ == "__main__":
    sys.exit(main())
