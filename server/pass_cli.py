"""``campuspass pass issue`` and ``campuspass pass check``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

from server.config import load_server_config
from server.datadir import DataDir
from server.passes import check_online, issue_pass, new_subject_id
from server.qr import qr_png, qr_version
from server.storage.buildings import Buildings
from server.storage.passes import Passes
from shared.clock import SystemClock
from shared.errors import CampusPassError
from shared.pass_format import ALL_GROUPS, PassStatus


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``campuspass pass issue`` and ``campuspass pass check``."""
    issue = sub.add_parser(
        "issue",
        help="issue a temporary visitor pass",
        description="Sign a green visitor pass (guests, contractors) and print its text. The QR carries "
        "no name: the name is kept in the server database with the pass serial.",
    )
    issue.add_argument("--data", type=Path, required=True, help="server data directory")
    issue.add_argument("--visitor", required=True, help="visitor's name (stored on the server only)")
    issue.add_argument("--hours", type=float, required=True, help="validity in hours from now")
    issue.add_argument("--scope", action="append", default=[], metavar="GROUP",
                       help="building group the visitor may enter (repeat, at most 3; default: all)")
    issue.add_argument("--png", type=Path, help="also write the QR code to this PNG file")
    issue.set_defaults(handler=_issue)

    check = sub.add_parser(
        "check",
        help="check a pass text or QR image as a door would",
        description="Run the door decision online with this server's trust bundle, revocation list "
        "and building policy. Prints one JSON object per code found.",
    )
    check.add_argument("--data", type=Path, required=True, help="server data directory")
    check.add_argument("--building", help="building code (default: any building; scope and hours skipped)")
    what = check.add_mutually_exclusive_group(required=True)
    what.add_argument("text", nargs="?", help="pass text (CP1:...)")
    what.add_argument("--image", type=Path, help="image file: every QR code in it is checked")
    check.set_defaults(handler=_check)


def _issue(args: argparse.Namespace) -> int:
    dd = DataDir(args.data)
    dd.require_initialised()
    config = load_server_config(dd.config_path)
    if not 0 < args.hours <= config.passes.visitor_max_hours:
        raise CampusPassError(
            f"--hours {args.hours}; expected more than 0 and at most {config.passes.visitor_max_hours}",
            code="bad_hours",
        )
    name = args.visitor.strip()
    if not name:
        raise CampusPassError("--visitor is empty; expected the visitor's name", code="bad_visitor")
    clock = SystemClock()

    async def run() -> tuple[str, dict[str, object]]:
        async with dd.database() as db:
            scope = tuple(await Buildings(db).group_ids(args.scope)) if args.scope else (ALL_GROUPS,)
            now = clock.now()
            issued = await issue_pass(
                dd, Passes(db), subject=new_subject_id(), status=PassStatus.GREEN, scope=scope,
                valid_from=now, valid_until=now + timedelta(hours=args.hours), now=now,
                issued_by="cli", visitor_name=name,
            )
            return issued.text, issued.fields.as_json()

    text, fields = asyncio.run(run())
    if args.png:
        args.png.write_bytes(qr_png(text))
    print(text)
    print(
        f"visitor pass for {name}: valid until {fields['valid_until']}, serial {fields['serial']}, "
        f"QR version {qr_version(text)}" + (f", image {args.png}" if args.png else ""),
        file=sys.stderr,
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    dd = DataDir(args.data)
    dd.require_initialised()
    if args.image is not None:
        from qrdecode.decoders import make_decoder, read_image

        texts = make_decoder("zxing").decode(read_image(args.image))
        if not texts:
            print(json.dumps({"image": str(args.image), "verdict": "deny", "reason": "no_code_found",
                              "pass": None}))
            return 1
    else:
        texts = [args.text]
    clock = SystemClock()

    async def run() -> list[dict[str, object]]:
        async with dd.database() as db:
            out = []
            for text in texts:
                verdict = await check_online(dd, Passes(db), Buildings(db), text, clock.now(), args.building)
                out.append(verdict.as_json())
            return out

    results = asyncio.run(run())
    for r in results:
        print(json.dumps(r, ensure_ascii=False))
    return 0 if all(r["verdict"] == "accept" for r in results) else 1
