"""Shared pieces of the provisioning tests: a data directory on a fake clock, passes, a node's view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from provisioning.init import init_data_dir
from server.datadir import DataDir
from server.passes import ANY_BUILDING, issue_pass, new_subject_id
from server.storage import Database
from server.storage.passes import Passes
from shared.campus_time import next_checkin_deadline
from shared.clock import FakeClock
from shared.decision import Verdict, decide
from shared.pass_format import ALL_GROUPS, PassStatus
from shared.revocation import RevocationSet
from shared.trust import TrustBundle

# 2026-05-31 00:00:30 Asia/Shanghai: a student pass signed now lasts the longest (36 h).
START = datetime(2026, 5, 30, 16, 0, 30, tzinfo=UTC)


def new_data_dir(tmp_path: Path, clock: FakeClock | None = None) -> tuple[DataDir, FakeClock]:
    clock = clock or FakeClock(START)
    return init_data_dir(tmp_path / "data", clock, admin=None).datadir, clock


async def issue(dd: DataDir, now: datetime, *, visitor_hours: float | None = None) -> str:
    """Sign a pass at ``now``: a student pass until the next deadline, or a visitor pass."""
    db = await Database.open(dd.db_path)
    try:
        until = next_checkin_deadline(now) if visitor_hours is None else now + timedelta(hours=visitor_hours)
        issued = await issue_pass(
            dd, Passes(db), subject=new_subject_id(), status=PassStatus.GREEN, scope=(ALL_GROUPS,),
            valid_from=now, valid_until=until, now=now, issued_by="test",
            visitor_name=None if visitor_hours is None else "Visitor",
        )
        return issued.text
    finally:
        await db.close()


def node_view(dd: DataDir) -> TrustBundle:
    """What a door node holds after syncing: the bundle file verified against the pinned root."""
    return TrustBundle.load(dd.bundle_path.read_text(encoding="utf-8"), dd.root_public())


def at_door(text: str, bundle: TrustBundle, now: datetime) -> Verdict:
    """The shared door decision with no revocations and a building that admits everything."""
    return decide(text, bundle, RevocationSet(), ANY_BUILDING, now)
