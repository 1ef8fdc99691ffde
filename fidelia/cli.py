"""The `fidelia` command line. Each verb is a thin shell over the packages."""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from fidelia.errors import FideliaError
from fidelia.settings import Settings

log = logging.getLogger("fidelia")
PR_SET_PDEATHSIG = 1


def stop_with_parent() -> None:
    """Ask Linux to send us SIGTERM when the process that started us dies.

    An orphaned `fidelia serve` would go on holding the embedded store, and every later
    command would find it locked; with this, a dead launcher (a killed shell, a wrapper
    script) ends in the same graceful, flushing shutdown as a plain SIGTERM.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the launcher died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from fidelia.app import build_app

    app = build_app(settings)
    if settings.stop_with_parent:
        stop_with_parent()
    # No access log: it would write client IPs, which Fidelia never stores.
    uvicorn.run(app, host=args.host, port=args.port, log_level=settings.log_level, access_log=False,
                timeout_graceful_shutdown=10)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from fidelia.store import Store

    store = Store(settings.clickhouse_dsn)
    try:
        applied = store.migrate(settings.retention_days)
    finally:
        store.close()
    print("applied: " + ", ".join(applied) if applied else "store is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fidelia", description="Tracking and customer profiles for e-shops.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    serve = verbs.add_parser("serve", help="run the collector and APIs (migrates the store first)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.set_defaults(run=cmd_serve)

    migrate = verbs.add_parser("migrate", help="apply the sql/ migrations (idempotent)")
    migrate.set_defaults(run=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run: Callable[[argparse.Namespace, Settings], int] = args.run
        return run(args, settings)
    except FideliaError as exc:
        print(f"fidelia: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
