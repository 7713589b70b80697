"""``campuspass server run | import-roster | create-admin | reset-password``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from server.datadir import DataDir
from server.storage import Database
from shared.clock import SystemClock, to_unix


def register(sub: argparse._SubParsersAction) -> None:
    """Add the server's account and run commands."""
    run = sub.add_parser("run", help="serve the web app and the JSON API",
                         description="Serve the web pages and the JSON API (/api/v1/) from a data directory "
                         "made by 'campuspass init'. Prints the address it listens on.")
    run.add_argument("--data", type=Path, required=True, help="server data directory")
    run.add_argument("--host", default=None, help="address to listen on (default: host in server.toml)")
    run.add_argument("--port", type=int, default=None, help="port (default: port in server.toml; 0 = any free)")
    run.set_defaults(handler=_run)

    imp = sub.add_parser("import-roster", help="import or update people from a roster CSV or XLSX",
                         description="Import people from a roster: an Excel workbook (.xlsx, first worksheet) or "
                         "a CSV (UTF-8, with or without BOM), with columns "
                         "number, name, id_last6, department_code, department_name, role, and optionally "
                         "phone, class. Re-importing updates people without touching passwords. A file with "
                         "bad rows imports nothing unless --skip-bad-rows.")
    imp.add_argument("--data", type=Path, required=True, help="server data directory")
    imp.add_argument("file", type=Path, help="the roster (.xlsx or .csv)")
    imp.add_argument("--skip-bad-rows", action="store_true", help="import the good rows and report the bad ones")
    imp.set_defaults(handler=_import_roster)

    adm = sub.add_parser("create-admin", help="create a system admin with a one-time password",
                         description="Create a system (or school) admin account. Its one-time password is "
                         "printed once and must be changed at the first login.")
    adm.add_argument("--data", type=Path, required=True, help="server data directory")
    adm.add_argument("username", help="the admin's username (e.g. a staff number)")
    adm.add_argument("--name", default="", help="display name (default: the username)")
    adm.add_argument("--role", choices=("system_admin", "school_admin"), default="system_admin")
    adm.set_defaults(handler=_create_admin)

    rst = sub.add_parser("reset-password", help="reset an account to its initial password",
                         description="Reset an account to its roster initial password (the person must set a "
                         "new one at the next login); ends its sessions and clears its login throttle.")
    rst.add_argument("--data", type=Path, required=True, help="server data directory")
    rst.add_argument("number", help="the person's number")
    rst.set_defaults(handler=_reset_password)


def _run(args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.config import load_server_config

    dd = DataDir(args.data)
    dd.require_initialised()
    config = load_server_config(dd.config_path)
    host = args.host or config.host
    port = config.port if args.port is None else args.port

    async def serve() -> None:
        app = create_app(dd, config=config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        addrs = [a for a in runner.addresses if isinstance(a, tuple)]
        actual = addrs[0][1] if addrs else port
        shown = f"[{host}]" if ":" in host else host
        print(f"campuspass server listening on http://{shown}:{actual}/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(serve())
    return 0


def _import_roster(args: argparse.Namespace) -> int:
    from server.passwords import PasswordHasher
    from server.roster import RosterError, import_roster

    dd = DataDir(args.data)
    dd.require_initialised()
    data = args.file.read_bytes()

    def progress(done: int, total: int) -> None:
        print(f"  hashed {done}/{total} initial passwords", file=sys.stderr, flush=True)

    async def run() -> int:
        db = await Database.open(dd.db_path)
        try:
            result = await import_roster(db, PasswordHasher(), data, now_s=to_unix(SystemClock().now()),
                                         actor_number="cli", skip_bad_rows=args.skip_bad_rows, progress=progress)
        except RosterError as exc:
            for p in exc.problems:
                print(f"{args.file.name}: {p}", file=sys.stderr)
            print(f"campuspass: error: {exc.message} (use --skip-bad-rows to import the good rows)",
                  file=sys.stderr)
            return 1
        finally:
            await db.close()
        for p in result.skipped:
            print(f"{args.file.name}: skipped {p}", file=sys.stderr)
        print(f"imported {args.file.name}: {result.created} created, {result.updated} updated, "
              f"{result.departments} departments, {len(result.skipped)} rows skipped")
        return 0

    return asyncio.run(run())


def _create_admin(args: argparse.Namespace) -> int:
    from server.accounts import Accounts
    from server.config import load_server_config
    from server.passwords import PasswordHasher

    dd = DataDir(args.data)
    dd.require_initialised()

    async def run() -> str:
        async with dd.database() as db:
            accounts = Accounts(db, SystemClock(), PasswordHasher(), load_server_config(dd.config_path))
            _person, one_time = await accounts.create_admin(args.username, args.name, args.role, actor="cli")
            return one_time

    one_time = asyncio.run(run())
    print(f"created {args.role} {args.username}\none-time password: {one_time}\n"
          "(shown only now; it must be changed at the first login)")
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    from server.accounts import Accounts
    from server.config import load_server_config
    from server.errors import NotFound
    from server.passwords import PasswordHasher

    dd = DataDir(args.data)
    dd.require_initialised()

    async def run() -> None:
        async with dd.database() as db:
            accounts = Accounts(db, SystemClock(), PasswordHasher(), load_server_config(dd.config_path))
            target = await accounts.people.by_number(args.number)
            if target is None:
                raise NotFound(f"no person with number {args.number}")
            await accounts.reset_password_by(actor_number="cli", target=target)

    asyncio.run(run())
    print(f"reset {args.number} to the initial password")
    return 0
