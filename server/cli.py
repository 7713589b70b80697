"""``campuspass server ...``: run the server and administer its data directory."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from server.datadir import DataDir
from server.storage.buildings import Buildings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``campuspass server`` commands."""
    from server import accounts_cli

    accounts_cli.register(sub)
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

    from provisioning.cli import register_backup, register_server_node

    register_backup(sub)  # server backup / server restore (provisioning/backup.py)
    register_server_node(sub)  # server node disable / enable (provisioning/enrol.py)


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
    from server.web.building_pages import validate_rules

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
