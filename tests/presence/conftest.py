"""A generated campus with a known answer: dormitory D1 and library LIB with entry and exit
nodes, canteen CAN with an entry node only, people in two departments, and door scans uploaded
through the real sync service (hash-chained records, server receive time = the upload time)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.storage.buildings import Buildings
from server.storage.nodes import Nodes
from server.storage.people import People
from server.sync import SyncService
from server.web import state
from shared.campus_time import CAMPUS_TZ
from shared.clock import FakeClock
from shared.scanlog import GENESIS_HASH, ScanRecord, seal, uuid7
from shared.sync_contract import Heartbeat
from tests.server.conftest import activate, add_person, app, client, clock, datadir  # noqa: F401

__all__ = ["Campus", "activate", "add_person", "local_ms"]

NODES = {"d1-in": ("D1", "entry"), "d1-out": ("D1", "exit"), "lib-in": ("LIB", "entry"),
         "lib-out": ("LIB", "exit"), "can-in": ("CAN", "entry")}


def local_ms(day: int, hhmm: str) -> int:
    """Unix ms of 2026-03-``day`` ``hhmm`` in Asia/Shanghai."""
    hh, mm = (int(x) for x in hhmm.split(":"))
    return int(datetime(2026, 3, day, hh, mm, tzinfo=CAMPUS_TZ).timestamp() * 1000)


@dataclass
class Feed:
    """One door node's hash-chained log, with what has not been uploaded yet."""

    node_id: str
    seq: int = 0
    prev_hash: str = GENESIS_HASH
    pending: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)


class Campus:
    """The campus of the presence tests.

    ``scan(node, number, "D HH:MM")`` records a decision on the node; ``upload(node)`` sends its
    pending records through :class:`server.sync.SyncService` at the clock's current time.
    """

    def __init__(self, app: web.Application, clock: FakeClock) -> None:  # noqa: F811
        self.app = app
        self.clock = clock
        self.feeds = {n: Feed(n) for n in NODES}
        self.subjects: dict[str, bytes] = {}

    async def build(self, people: dict[str, str]) -> None:
        b = Buildings(self.app[state.SERVICES].db)
        await b.add_building("D1", "Dormitory 1", "dorms")
        await b.add_building("LIB", "Library", "library")
        await b.add_building("CAN", "Canteen", "canteens")
        for node_id, (building, direction) in NODES.items():
            await Nodes(self.app[state.SERVICES].db).register(node_id, building=building, public_key=os.urandom(32),
                                                     now_s=int(self.clock.now().timestamp()), direction=direction)
        for number, dept in people.items():
            await add_person(self.app, number, department=dept, name=f"Name {number}")
            person = await People(self.app[state.SERVICES].db).by_number(number)
            assert person is not None
            self.subjects[number] = person.subject

    def scan(self, node_id: str, number: str | None, day: int, hhmm: str, *, verdict: str = "accept",
             scan_id: str | None = None) -> str:
        """Record a decision (``scan_id``: reuse an id, as a faulty node might); returns its scan id."""
        feed = self.feeds[node_id]
        at_ms = local_ms(day, hhmm)
        feed.seq += 1
        rec = seal(seq=feed.seq, scan_id=scan_id or str(uuid7(at_ms)), node_id=node_id, at_ms=at_ms, mono_ms=feed.seq * 1000,
                   clock_trusted=True, serial=os.urandom(8).hex(),
                   subject=None if number is None else self.subjects[number].hex(),
                   text_sha256=os.urandom(32).hex(), verdict=verdict,
                   reason="accepted" if verdict == "accept" else "expired", direction=NODES[node_id][1],
                   prev_hash=feed.prev_hash)
        feed.prev_hash = rec.hash
        feed.pending.append(rec.to_json())
        return rec.scan_id

    async def upload(self, node_id: str, records: list[dict[str, Any]] | None = None) -> int:
        """Upload the node's pending records (or ``records`` again); returns how many were new."""
        feed = self.feeds[node_id]
        batch = feed.pending if records is None else records
        node = await Nodes(self.app[state.SERVICES].db).get(node_id)
        assert node is not None
        now_ms = int(self.clock.now().timestamp() * 1000)
        hb = Heartbeat(node_time_ms=now_ms, queue_depth=0, software_version="test", trust_version=1,
                       revocation_version=1, policy_version=1)
        service = SyncService(self.app[state.SERVICES].db, self.app[state.DATADIR], self.app[state.CONFIG].sync)
        _ack, inserted, _gaps = await service.upload(node, [ScanRecord.from_json(r) for r in batch], hb, now_ms)
        if records is None:
            feed.sent.extend(feed.pending)
            feed.pending = []
        return inserted

    def advance_to(self, day: int, hhmm: str) -> None:
        self.clock.advance((local_ms(day, hhmm) - int(self.clock.now().timestamp() * 1000)) / 1000)


@pytest.fixture
def campus(app: web.Application, clock: FakeClock) -> Callable[[], Campus]:  # noqa: F811
    return lambda: Campus(app, clock)


async def login_as(client: TestClient, number: str, role: str, department: str | None = None) -> None:  # noqa: F811
    """Add an account with ``role`` and log it in through the API (first-login setup done)."""
    assert client.server.app is not None
    await add_person(client.server.app, number, role=role, department=department)
    await activate(client, number)
