"""The sync log and scan log pages as admins use them: paging, filters, links, typed times."""

from __future__ import annotations

import os
import re

from edge.store import NodeStore
from edge.sync import SyncClient
from shared.clock import FakeClock

from .helpers import EnrolledNode, LoopbackServer, active_person, login
from .test_sync_admin import _scan


async def test_sync_log_pages_keep_the_syncs_that_carried_scans_and_link_to_them(
        server: LoopbackServer, clock: FakeClock, node: EnrolledNode, store: NodeStore) -> None:
    subject = await active_person(server, "2024001", "student", department="CS")
    await active_person(server, "adm", "school_admin")
    client = SyncClient(store, node.config, node.key, clock=clock)
    await _scan(store, "d7-east", clock, serial=os.urandom(8).hex(), subject=subject.hex())
    await _scan(store, "d7-east", clock, serial=os.urandom(8).hex(), subject=subject.hex(), verdict="deny")
    assert await client.run_once() is not None  # the sync that carries both scans
    for _ in range(250):  # heartbeats: more than the old page's 200 rows
        clock.advance(2)
        assert await client.run_once() is not None
    admin = await login(server, "adm")

    api = (await admin.get("/api/v1/nodes/d7-east/sync-log")).json()
    assert len(api["syncs"]) == 50 and api["next_before"] is not None
    scans_only = (await admin.get("/api/v1/nodes/d7-east/sync-log", params={"only": "scans"})).json()
    assert [s["received"] for s in scans_only["syncs"]] == [2] and scans_only["next_before"] is None
    older = (await admin.get("/api/v1/nodes/d7-east/sync-log", params={"before": api["next_before"]})).json()
    assert older["syncs"][0]["id"] < api["syncs"][-1]["id"]
    seen, before = 0, None
    while True:  # every sync is reachable by paging
        page = (await admin.get("/api/v1/nodes/d7-east/sync-log",
                                params={"limit": "100", **({"before": str(before)} if before else {})})).json()
        seen += len(page["syncs"])
        before = page["next_before"]
        if before is None:
            break
    assert seen == 251
    assert (await admin.get("/api/v1/nodes/d7-east/sync-log", params={"only": "x"})).status_code == 422

    page = (await admin.get("/admin/nodes/d7-east", params={"only": "scans"})).text
    link = re.search(r'href="(/admin/scans\?node=d7-east&amp;received=\d+)"', page)
    assert link, page
    scans = (await admin.get(link.group(1).replace("&amp;", "&"))).text
    assert scans.count('class="scan-') == 2 and "2024001" in scans
    assert "尚未确认到校" not in scans and "已吊销" in scans  # reasons as text, not codes
    assert "revoked" not in scans.split("<table>")[1]
    assert "更早的" in (await admin.get("/admin/nodes/d7-east")).text  # a link to older syncs
    await admin.aclose()


async def test_scan_log_shows_recent_scans_at_once_and_reads_typed_local_times(
        server: LoopbackServer, clock: FakeClock, node: EnrolledNode, store: NodeStore) -> None:
    subject = await active_person(server, "2024001", "student", department="CS")
    await active_person(server, "adm", "school_admin")
    await _scan(store, "d7-east", clock, serial=os.urandom(8).hex(), subject=subject.hex())
    assert await SyncClient(store, node.config, node.key, clock=clock).run_once() is not None
    admin = await login(server, "adm")
    page = await admin.get("/admin/scans")
    assert page.status_code == 200 and page.text.count('class="scan-accept"') == 1

    # The clock starts at 2026-03-02 10:00 Beijing time; the scan is a second later.
    for typed, found in (("2026-03-02 10:00", 1), ("2026-03-02 10:01", 0), ("2026-03-02", 1),
                         ("２０２６－０３－０２　１０：００", 1), ("2026/3/2 10:00", 1), ("2026-03-02T10:00", 1)):
        page = await admin.get("/admin/scans", params={"from": typed})
        assert page.status_code == 200, typed
        assert page.text.count('class="scan-accept"') == found, typed
    page = await admin.get("/admin/scans", params={"to": "2026-03-02"})  # a date alone: to its end
    assert page.text.count('class="scan-accept"') == 1

    page = await admin.get("/admin/scans", params={"from": "yesterday 8am", "building": "D7", "person": "2024001"})
    assert page.status_code == 422
    assert "时间格式不对" in page.text
    assert 'value="yesterday 8am"' in page.text and 'value="D7"' in page.text and 'value="2024001"' in page.text
    await admin.aclose()


def test_anomalies_read_in_chinese_from_the_sentences_the_server_writes() -> None:
    from server.sync import impossible_travel
    from server.web.catalogue import Catalogue

    anomaly_text = Catalogue.load().anomaly_text

    [travel] = impossible_travel([("s2", b"x" * 8, "LIB", 21_000)], [("s1", b"x" * 8, "D7", 0, "d7"),
                                                                      ("s2", b"x" * 8, "LIB", 21_000, "lib")],
                                 "lib", 60, 0)
    text = anomaly_text("zh-CN", travel.kind, travel.detail, travel.seq_from, travel.seq_to)
    assert text == "同一人的通行码先后在 D7 和 LIB 通过，间隔 21 秒（至少应间隔 60 秒）；记录 s1、s2"
    assert anomaly_text("en", travel.kind, travel.detail, None, None) == travel.detail
    assert anomaly_text("zh-CN", "chain_gap", "records 3..4 missing from the node's log", 3, 4) == "节点日志缺少第 3–4 条记录"
