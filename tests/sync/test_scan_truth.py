"""What the server's scan log says about offline doors (docs/sync-protocol.md, "What the scan log
says"): admissions of passes revoked before the scan are flagged and raise an anomaly, the
server revokes a held person by subject so a pass it signed later with an earlier valid-from is
covered too, a door's slow clock is corrected by the skew measured at its sync, and a second
entry of the same person within the window at another door is flagged. Real doors
(:class:`edge.node.Node` with MockFactory pins), real sync over loopback HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.node import Node
from edge.store import NodeStore
from edge.sync import SyncClient
from shared.clock import FakeClock

from .helpers import (
    EnrolledNode,
    LoopbackServer,
    active_person,
    enrol_node,
    green_pass,
    login,
    open_node_store,
)


@dataclass
class Door:
    """An enrolled door node with its own clock, offline until :meth:`sync` is called."""

    enrolled: EnrolledNode
    store: NodeStore
    node: Node
    clock: FakeClock

    async def admit(self, text: str) -> None:
        [j] = self.node.judge([text], self.clock.monotonic())
        assert j.verdict.accepted, j.verdict.reason
        await self.node.commit(j)

    async def deny_reason(self, text: str) -> str:
        [j] = self.node.judge([text], self.clock.monotonic())
        assert not j.verdict.accepted
        return str(j.verdict.reason.value)

    async def sync(self) -> None:
        client = SyncClient(self.store, self.enrolled.config, self.enrolled.key, clock=self.clock)
        try:
            assert await client.run_once() is not None
        finally:
            await client.aclose()

    async def close(self) -> None:
        self.node.outputs.close()
        await self.store.close()


async def door(server: LoopbackServer, folder: Path, node_id: str, clock: FakeClock) -> Door:
    enrolled = await enrol_node(server, folder, node_id=node_id)
    store = await open_node_store(enrolled.config)
    return Door(enrolled, store, Node(enrolled.config, store, pin_factory=MockFactory(), clock=clock), clock)


async def test_offline_admission_of_a_revoked_pass_is_flagged_after_sync(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock) -> None:
    dorms = server.groups["dorms"]  # type: ignore[attr-defined]
    subject = await active_person(server, "2024001", "student", department="CS")
    await active_person(server, "adm", "school_admin")
    await active_person(server, "it01", "system_admin")
    d7 = await door(server, tmp_path / "d7", "d7-east", clock)
    school = await login(server, "adm")
    try:
        old_text, _ = await green_pass(server, dorms, subject)
        clock.advance(60)
        await d7.admit(old_text)  # before the revocation: the truth, nothing to flag

        clock.advance(60)
        r = await school.post("/api/v1/people/2024001/pass/revoke", json={"reason": "lost phone"})
        assert r.status_code == 200, r.text
        clock.advance(60)
        # A pass signed after the revocation by mistake, valid from an hour ago: the server has
        # no serial entry for it, only the entry for every pass of the person valid from before then.
        late_text, _ = await green_pass(server, dorms, subject)

        clock.advance(60)
        await d7.admit(old_text)  # the door is offline: it does not know either revocation
        clock.advance(30)
        await d7.admit(late_text)
        await d7.sync()

        rows = (await school.get("/api/v1/scans")).json()["scans"]
        assert [(r["seq"], r["verdict"], r["admitted_revoked"]) for r in rows] == [
            (3, "accept", True), (2, "accept", True), (1, "accept", False)]
        log = (await school.get("/api/v1/nodes/d7-east/sync-log")).json()
        revoked = [a for a in log["anomalies"] if a["kind"] == "admitted_revoked"]
        assert sorted((a["seq_from"], a["seq_to"]) for a in revoked) == [(2, 2), (3, 3)]
        assert all("2024001" not in a["detail"] for a in revoked)  # the anomaly names no person
        flagged = (await school.get("/api/v1/scans", params={"flag": "revoked"})).json()["scans"]
        assert [r["seq"] for r in flagged] == [3, 2]
        page = await school.get("/admin/scans", params={"flag": "revoked"})
        assert page.status_code == 200 and page.text.count("吊销后放行") >= 3  # option + two rows
        it = await login(server, "it01")
        node_page = await it.get("/admin/nodes/d7-east")
        assert "吊销后放行" in node_page.text and "离线门禁在服务器吊销" in node_page.text
        await it.aclose()

        # Synced now, the door refuses both passes: the later one through the subject entry.
        assert await d7.deny_reason(old_text) == "revoked"
        clock.advance(10)
        assert await d7.deny_reason(late_text) == "revoked"
        # A retransmitted batch adds neither rows nor anomalies.
        await d7.sync()
        log = (await school.get("/api/v1/nodes/d7-east/sync-log")).json()
        assert len([a for a in log["anomalies"] if a["kind"] == "admitted_revoked"]) == 2
    finally:
        await school.aclose()
        await d7.close()


async def test_two_offline_doors_one_slow_give_one_repeated_entry_in_the_right_order(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock) -> None:
    dorms = server.groups["dorms"]  # type: ignore[attr-defined]
    subject = await active_person(server, "2024001", "student", department="CS")
    await active_person(server, "adm", "school_admin")
    east = await door(server, tmp_path / "east", "d7-east", clock)
    slow_clock = FakeClock(clock.now() - timedelta(minutes=3))
    west = await door(server, tmp_path / "west", "d7-west", slow_clock)
    school = await login(server, "adm")

    def advance(seconds: float) -> None:
        clock.advance(seconds)
        slow_clock.advance(seconds)

    try:
        text, _ = await green_pass(server, dorms, subject)
        advance(600)
        await east.admit(text)  # true time T
        advance(60)
        await west.admit(text)  # true time T + 60 s; its clock says T − 120 s
        advance(900)
        await east.admit(text)  # T + 960 s: outside the 5-minute window, not a repeat
        advance(30)
        await west.sync()  # the later entry reaches the server first
        await east.sync()

        rows = (await school.get("/api/v1/scans")).json()["scans"]
        assert [(r["node_id"], r["seq"]) for r in rows] == [("d7-east", 2), ("d7-west", 1), ("d7-east", 1)]
        first, second = rows[2], rows[1]
        assert second["node_at_ms"] == first["at_ms"] - 120_000  # raw: it would sort first
        assert second["at_ms"] == first["at_ms"] + 60_000  # corrected by the measured 180 s
        assert first["node_at_ms"] == first["at_ms"]
        assert [r["repeat_of"] for r in rows] == [None, first["scan_id"], None]
        repeated = (await school.get("/api/v1/scans", params={"flag": "repeated"})).json()["scans"]
        assert [r["scan_id"] for r in repeated] == [second["scan_id"]]
        page = await school.get("/admin/scans")
        assert page.status_code == 200
        row = page.text.split(f'data-scan="{second["scan_id"]}"')[1].split("</tr>")[0]
        assert "重复进入" in row and "节点时钟" in row and "(+180 s)" in row
        assert page.text.count("重复进入") == 2  # the filter option and that one row
    finally:
        await school.aclose()
        await east.close()
        await west.close()
