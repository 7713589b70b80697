"""``campuspass demo``: the product on embedded defaults, on one machine."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from pathlib import Path

DEFAULT_DEMO_DATA = Path("demo-data")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``campuspass demo``."""
    p = sub.add_parser(
        "demo",
        help="run the whole product on embedded defaults",
        description="Initialise a demo data directory, add demo buildings, issue a pass and show the "
        "door decision for it and for a tampered copy.",
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DEMO_DATA, help="demo data directory (default ./demo-data)")
    p.add_argument("--reset", action="store_true", help="delete the demo data directory first")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    import shutil

    from provisioning.init import init_data_dir
    from server.datadir import DataDir
    from server.passes import check_online, issue_pass, new_subject_id
    from server.qr import qr_png, qr_version
    from server.storage import Database
    from server.storage.buildings import Buildings
    from server.storage.passes import Passes
    from shared.clock import SystemClock
    from shared.pass_format import PassStatus

    clock = SystemClock()
    if args.reset and args.data.exists():
        shutil.rmtree(args.data)
    dd = DataDir(args.data)
    if not dd.is_initialised():
        init_data_dir(args.data, clock)
        print(f"initialised demo data directory {args.data}")

    async def run() -> None:
        db = await Database.open(dd.db_path)
        try:
            b = Buildings(db)
            await b.add_building("LIB", "Main Library", "teaching")
            await b.add_building("D7", "Dormitory 7", "dorm-east")
            (lib_group,) = await b.group_ids(["teaching"])
            now = clock.now()
            issued = await issue_pass(
                dd, Passes(db), subject=new_subject_id(), status=PassStatus.GREEN, scope=(lib_group,),
                valid_from=now, valid_until=now + timedelta(hours=2), now=now, issued_by="demo",
                visitor_name="Demo Visitor",
            )
            png = args.data / "demo-pass.png"
            png.write_bytes(qr_png(issued.text))
            print(f"\nissued a visitor pass for the library (QR version {qr_version(issued.text)}, {png}):")
            print(f"  {issued.text}\n")
            tampered = issued.text[:-5] + ("A" if issued.text[-5] != "A" else "B") + issued.text[-4:]
            for label, text, building in [
                ("at the library", issued.text, "LIB"),
                ("at dormitory 7 (out of scope)", issued.text, "D7"),
                ("with one character changed", tampered, "LIB"),
                ("a foreign QR (EU certificate)", "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEXWK G2EP4J0B", "LIB"),
            ]:
                verdict = await check_online(dd, Passes(db), b, text, clock.now(), building)
                print(f"  door decision {label}: {json.dumps(verdict.as_json()['verdict'])} "
                      f"({verdict.reason.value})")
        finally:
            await db.close()

    asyncio.run(run())
    print(f"\ncheck it yourself: campuspass pass check --data {args.data} --building LIB --image {args.data}/demo-pass.png")
    return 0


