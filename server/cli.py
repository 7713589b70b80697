"""``campuspass server ...``: every command of the central server, in one place.

``run`` (refuses configuration that cannot work, logs the reconciliation check, then listens),
``check-config``, ``doctor [--repair]``, ``import-roster``, ``create-admin``,
``reset-password``, ``building add|group|list``, ``backup``/``restore`` (:mod:`server.backup`)
and ``node disable|enable`` (:mod:`server.enrolment`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from server.datadir import DataDir
from server.storage.buildings import Buildings
from shared.clock import SystemClock, to_unix

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``campuspass server`` commands."""
    run = sub.add_parser("run", help="serve the web app and the JSON API",
                         description="Serve the web pages and the JSON API (/api/v1/) from a data directory "
                         "made by 'campuspass init'. Prints the address it listens on.")
    run.add_argument("--data", type=Path, required=True, help="server data directory")
    run.add_argument("--host", default=None, help="address to listen on (default: host in server.toml)")
    run.add_argument("--port", type=int, default=None, help="port (default: port in server.toml; 0 = any free)")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="server processes sharing the port (default 1; more need [database] url = "
                     "\"postgresql://...\", docs/deploy.md)")
    run.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # a child of --workers
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

    check = sub.add_parser("check-config", help="check server.toml and the data directory",
                           description="Check server.toml strictly (unknown keys, wrong types) and every value "
                           "that parses but cannot work (no building group for the pass scope, a bad HH:MM, an "
                           "SMS template with an unknown placeholder...), and that an issuer key can sign now. "
                           "Names each key, its bad value and what is expected. 'server run' runs the same "
                           "check before it listens.")
    check.add_argument("--data", type=Path, required=True, help="server data directory")
    check.set_defaults(handler=_check_config)

    doc = sub.add_parser("doctor", help="find (and mend) pass statuses that disagree with the workflow",
                         description="Compare every person's pass status with what their return applications "
                         "and check-ins imply and list the differences (exit status 1 when there are any). "
                         "With --repair, mend each person by the workflow's rules, one transaction each, "
                         "recorded in the status history and the audit log.")
    doc.add_argument("--data", type=Path, required=True, help="server data directory")
    doc.add_argument("--repair", action="store_true", help="mend the differences")
    doc.set_defaults(handler=_doctor)

    mig = sub.add_parser("migrate-db", help="copy the SQLite database into PostgreSQL and verify the copy",
                         description="Copy every table of a campus's SQLite database into a PostgreSQL database "
                         "(migrating both to this version's schema first), then compare each table's row count "
                         "and checksum on both sides (exit status 1 when a table differs). Safe to rerun: rows "
                         "already copied are updated to the source's values, never duplicated. Stop the server "
                         "before the last run (docs/deploy.md).")
    mig.add_argument("--from", dest="source", required=True, metavar="sqlite:///PATH",
                     help="the SQLite database, e.g. sqlite:///srv/campuspass/campuspass.db")
    mig.add_argument("--to", dest="target", required=True, metavar="postgresql://...",
                     help="the PostgreSQL database, e.g. postgresql://campuspass:secret@db:5432/campuspass")
    mig.set_defaults(handler=_migrate_db)
    b = sub.add_parser("building", help="manage buildings and building groups",
                       description="Manage buildings and the groups pass scopes name.")
    bsub = b.add_subparsers(title="commands", metavar="COMMAND")
    b.set_defaults(handler=lambda _a: (b.print_help(), 2)[1])
    add = bsub.add_parser("add", help="add or update a building",
                          description="Add a building (or update its name and group).")
    add.add_argument("--data", type=Path, required=True, help="server data directory")
    add.add_argument("code", help="building code, e.g. LIB")
    add.add_argument("name", help="display name, e.g. 'Main Library'")
    add.add_argument("--group", default="campus", help="building group (created if missing; default campus)")
    add.set_defaults(handler=_building_add)
    grp = bsub.add_parser("group", help="create a building group or set its door rules",
                          description="Create a building group or change which pass statuses its doors "
                                      "admit and when they are open (Asia/Shanghai).")
    grp.add_argument("--data", type=Path, required=True, help="server data directory")
    grp.add_argument("name", help="group name, e.g. dorm-east")
    grp.add_argument("--statuses", help="admitted statuses, comma-separated: green (default for a new "
                                        "group), or green,black for an arrival door")
    grp.add_argument("--hours", help="opening windows, comma-separated HH:MM-HH:MM, e.g. 07:00-23:00; "
                                     "'always' to clear (default for a new group: always open)")
    grp.set_defaults(handler=_building_group)
    ls = bsub.add_parser("list", help="list buildings and groups")
    ls.add_argument("--data", type=Path, required=True, help="server data directory")
    ls.set_defaults(handler=_building_list)

    register_backup(sub)
    register_server_node(sub)


def _building_add(args: argparse.Namespace) -> int:
    async def run() -> None:
        dd = DataDir(args.data)
        async with dd.database() as db:
            row = await Buildings(db).add_building(args.code, args.name, args.group)
            print(f"building {row.code} ({row.name}) in group {args.group} (id {row.group_id})")

    asyncio.run(run())
    return 0


def _building_group(args: argparse.Namespace) -> int:
    from server.errors import DomainError
    from server.web.buildings import validate_rules

    statuses = args.statuses.split(",") if args.statuses is not None else None
    hours = None
    if args.hours is not None:
        hours = [] if args.hours.strip().lower() == "always" else args.hours.split(",")
    try:
        name, statuses_ok, hours_ok = validate_rules(args.name, statuses or ["green"], hours or [])
    except DomainError as exc:
        print(f"campuspass: {exc.message}", file=sys.stderr)
        return 2

    async def run() -> None:
        dd = DataDir(args.data)
        async with dd.database() as db:
            repo = Buildings(db)
            gid = await repo.ensure_group(name, statuses_ok if statuses is not None else None,
                                          hours_ok if hours is not None else None)
            g = next(g for g in await repo.groups() if g.id == gid)
            print(f"group {g.id} {g.name}: statuses={','.join(g.allowed_statuses)} "
                  f"hours={','.join(g.hours) or 'always'} (policy v{await repo.policy_version()})")

    asyncio.run(run())
    return 0


def _building_list(args: argparse.Namespace) -> int:
    async def run() -> None:
        dd = DataDir(args.data)
        async with dd.database() as db:
            repo = Buildings(db)
            groups = {g.id: g for g in await repo.groups()}
            for g in groups.values():
                print(f"group {g.id} {g.name}: statuses={','.join(g.allowed_statuses)} "
                      f"hours={','.join(g.hours) or 'always'}")
            for bld in await repo.buildings():
                print(f"building {bld.code} {bld.name!r} group={groups[bld.group_id].name}")

    asyncio.run(run())
    return 0



def _run(args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.config_check import require_workable

    dd = DataDir(args.data)
    config = require_workable(dd, SystemClock().now())  # refused before anything listens
    host = args.host or config.host
    port = config.port if args.port is None else args.port
    if args.workers < 1:
        print(f"campuspass: error: --workers {args.workers}; expected 1 or more", file=sys.stderr)
        return 2
    if args.workers > 1:
        from server.storage.database import is_postgresql_url
        from server.workers import free_port, supervise

        if not is_postgresql_url(config.database.url):
            print(f"campuspass: error: --workers {args.workers} needs PostgreSQL: the SQLite database is served by"
                  f" one process. Set [database] url = \"postgresql://...\" in {dd.config_path.name}"
                  " (docs/deploy.md), or run one process", file=sys.stderr)
            return 2
        return supervise(dd.root, host, port or free_port(host), args.workers)

    async def serve() -> None:
        app = create_app(dd, config=config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()  # opens the database and logs the reconciliation check
        site = web.TCPSite(runner, host, port, reuse_port=True if args.reuse_port else None)
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


def _check_config(args: argparse.Namespace) -> int:
    from server.config_check import check_data_dir

    dd = DataDir(args.data)
    problems = check_data_dir(dd, SystemClock().now())
    for problem in problems:
        print(f"{dd.config_path.name}: {problem}", file=sys.stderr)
    if problems:
        print(f"campuspass: error: {len(problems)} problem(s); the server will not start", file=sys.stderr)
        return 1
    print(f"{dd.config_path}: config OK")
    return 0


def _migrate_db(args: argparse.Namespace) -> int:
    from server.storage.database import Database, is_postgresql_url
    from server.storage.postgres import PgDatabase, redact
    from server.storage.transfer import copy_database

    if not args.source.startswith("sqlite:///"):
        print(f"campuspass: error: --from {redact(args.source)}; expected sqlite:///path/to/campuspass.db",
              file=sys.stderr)
        return 2
    if not is_postgresql_url(args.target):
        print(f"campuspass: error: --to {redact(args.target)}; expected postgresql://user@host:port/dbname",
              file=sys.stderr)
        return 2
    path = Path(args.source[len("sqlite://"):])
    if not path.is_file():
        print(f"campuspass: error: {path}: no such file", file=sys.stderr)
        return 2

    async def run() -> int:
        source = await Database.open(path)
        try:
            target = await PgDatabase.open(args.target)
            try:
                copies = await copy_database(source, target)
            finally:
                await target.close()
        finally:
            await source.close()
        for c in copies:
            print(f"{c.table}: {c.source_rows} rows in SQLite, {c.target_rows} in PostgreSQL, {c.written} written,"
                  f" checksum {'ok' if c.ok else 'DIFFERS'}")
        bad = [c.table for c in copies if not c.ok]
        if bad:
            print(f"campuspass: error: {len(bad)} table(s) differ: {', '.join(bad)} (a row changed or was"
                  " deleted on one side; run again with the server stopped)", file=sys.stderr)
            return 1
        print(f"every table copied and verified ({len(copies)} tables)")
        return 0

    return asyncio.run(run())


def _doctor(args: argparse.Namespace) -> int:
    from server.config import load_server_config
    from server.doctor import find_differences, repair
    from server.pass_status import PassService
    from server.storage.people import People

    dd = DataDir(args.data)
    dd.require_initialised()
    clock = SystemClock()

    async def run() -> int:
        async with dd.database() as db:
            service = PassService(db, dd, load_server_config(dd.config_path).passes, clock)
            found = await (repair if args.repair else find_differences)(service, clock.now())
            people = People(db)
            for diff in found:
                person = await people.by_id(diff.person_id)
                who = person.number if person is not None else f"id {diff.person_id}"
                print(f"{who}: {diff.kind}: found {diff.found}; expected {diff.expected}"
                      f"{' (mended)' if args.repair else ''}")
            if not found:
                print("every pass status agrees with the applications and check-ins")
            elif not args.repair:
                print(f"{len(found)} difference(s); mend them with: campuspass server doctor --data DIR --repair",
                      file=sys.stderr)
            return 1 if found and not args.repair else 0

    return asyncio.run(run())


def _import_roster(args: argparse.Namespace) -> int:
    from server.passwords import PasswordHasher
    from server.roster import RosterError, import_roster

    dd = DataDir(args.data)
    dd.require_initialised()
    data = args.file.read_bytes()

    def progress(done: int, total: int) -> None:
        print(f"  hashed {done}/{total} initial passwords", file=sys.stderr, flush=True)

    async def run() -> int:
        db = await dd.open_database()
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


def register_server_node(sub: argparse._SubParsersAction) -> None:
    """Add ``campuspass server node disable|enable`` (to the server group)."""
    node = sub.add_parser("node", help="disable or enable an enrolled door node",
                          description="Disable a door node (its requests are refused from now on) or enable "
                          "it again.")
    nsub = node.add_subparsers(title="commands", metavar="COMMAND")
    node.set_defaults(handler=lambda _a: (node.print_help(), 2)[1])
    for action, text in (("disable", "refuse the node's requests from now on"), ("enable", "accept it again")):
        p = nsub.add_parser(action, help=text, description=f"{action.capitalize()} a door node: {text}.")
        p.add_argument("--data", type=Path, required=True, help="server data directory")
        p.add_argument("node_id", metavar="NODE_ID")
        p.set_defaults(handler=_server_node_switch, enabled=action == "enable")


def _server_node_switch(args: argparse.Namespace) -> int:
    from server.enrolment import set_node_enabled

    async def run() -> int:
        dd = DataDir(args.data)
        async with dd.database() as db:
            row = await set_node_enabled(db, args.node_id, args.enabled)
        print(f"node {row.id} {'enabled' if row.enabled else 'disabled: its requests are refused from now on'}")
        return 0

    return asyncio.run(run())


def register_backup(sub: argparse._SubParsersAction) -> None:
    """Add ``campuspass server backup`` and ``campuspass server restore`` (to the server group)."""
    bak = sub.add_parser(
        "backup",
        help="back up the data directory (safe while the server runs)",
        description="Write one tar.gz (mode 0600) with a consistent copy of the database, the keys, "
        "the trust files and server.toml. Safe while the server is running.",
    )
    bak.add_argument("--data", type=Path, required=True, help="server data directory")
    bak.add_argument("--out", type=Path, required=True, metavar="FILE", help="new backup file (.tar.gz)")
    bak.set_defaults(handler=_backup)

    res = sub.add_parser(
        "restore",
        help="restore a backup into a new data directory",
        description="Check a backup file and restore it into a new (or empty) data directory.",
    )
    res.add_argument("--data", type=Path, required=True, metavar="NEW_DIR", help="new data directory")
    res.add_argument("backup", type=Path, metavar="FILE", help="backup file from campuspass server backup")
    res.set_defaults(handler=_restore)


def _tables_line(tables: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(tables.items()) if name != "schema_migrations")


def _backup(args: argparse.Namespace) -> int:
    from server.backup import backup_data_dir

    result = asyncio.run(backup_data_dir(DataDir(args.data), args.out, SystemClock().now()))
    print(f"backup written to {result.out} ({len(result.files)} files, mode 0600)")
    print(f"  rows: {_tables_line(result.tables)}")
    if "keys/root.key" in result.files:
        print("  it holds the root private key: store it like the key itself")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from server.backup import restore_data_dir
    from shared.clock import from_unix

    result = asyncio.run(restore_data_dir(args.backup, args.data))
    print(f"restored {result.datadir.root} from the backup of {from_unix(result.created_at_s):%Y-%m-%d %H:%M}Z")
    print(f"  rows: {_tables_line(result.tables)}")
    return 0
