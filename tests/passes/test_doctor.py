"""`campuspass server doctor` finds pass statuses that disagree with the workflow in a real database
(as an older version could leave them; SQLite and PostgreSQL) and `--repair` mends them, audited."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestClient

from server.arrivals import Arrivals
from server.doctor import find_differences, mended, repair
from server.passes import check_online
from server.storage.audit import AuditLog
from server.storage.buildings import Buildings
from server.storage.pass_status import Status, StatusRow
from server.storage.passes import Passes
from server.storage.reconcile import PersonFacts
from server.web import state
from shared.clock import FakeClock
from shared.decision import Reason
from tests.passes.conftest import approve, people, person


async def doctor(data: Path) -> tuple[int, str]:
    """``campuspass server doctor --data DATA`` in its own process: exit code and output."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "campuspass", "server", "doctor", "--data",
                                                str(data), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_doctor_finds_and_repairs_a_planted_inconsistency(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await approve(client, "s1")  # black, with today's pass
    await approve(client, "o1")
    o1, c2 = await person(app, "o1"), await person(app, "c2")
    green = await Arrivals(app[state.SERVICES].passes).confirm_arrival(o1.id, c2, clock.now(), method="number")
    assert green.status == "green" and green.current_text
    s1 = await person(app, "s1")
    service = app[state.SERVICES].passes
    assert await find_differences(service, clock.now()) == []

    # plant what an older version left: s1's approval without its status (the event was
    # dropped), o1's application revoked while o1 keeps a green status and a valid pass
    data = app[state.DATADIR]
    async with app[state.SERVICES].db.transaction() as raw:  # plain SQL, past the domain (either backend)
        await raw.execute("DELETE FROM pass_status WHERE person_id = ?", (s1.id,))
        await raw.execute("DELETE FROM pass_status_history WHERE person_id = ?", (s1.id,))
        await raw.execute("UPDATE return_applications SET state = 'revoked' WHERE person_id = ?", (o1.id,))

    found = await find_differences(service, clock.now())
    assert {(d.person_id, d.kind) for d in found} == {(s1.id, "status"), (s1.id, "checkin"), (o1.id, "status")}
    code, out = await doctor(data.root)
    assert code == 1
    assert "s1: status: found none; expected black" in out and "o1: status: found green; expected none" in out

    mended = await repair(service, clock.now())
    assert {(d.person_id, d.kind) for d in mended} == {(d.person_id, d.kind) for d in found}
    s1_row, o1_row = await service.store.get(s1.id), await service.store.get(o1.id)
    assert s1_row.status == "black" and s1_row.current_text  # today's check-in was normal: a pass
    assert o1_row.status == "none" and o1_row.current_text is None
    verdict = await check_online(data, Passes(app[state.SERVICES].db), Buildings(app[state.SERVICES].db), green.current_text,
                                 clock.now())
    assert verdict.reason is Reason.REVOKED  # the revoked person's pass no longer opens anything
    assert [h.cause for h in await service.store.history(o1.id)][0] == "doctor"
    audit = await AuditLog(app[state.SERVICES].db).recent(action="doctor_repair")
    assert {e.target_person_id for e in audit} == {s1.id, o1.id} and all(e.actor_number == "doctor" for e in audit)

    assert await find_differences(service, clock.now()) == []
    code, out = await doctor(data.root)
    assert code == 0 and "every pass status agrees" in out


def test_a_missed_day_with_an_edited_fever_is_replayed_as_a_hold() -> None:
    """A status row that missed a day whose fever was edited back to normal is mended to the hold
    the rules imply (the abnormal answer first, then the edit, which keeps it); a row that saw
    the day keeps what staff decided since."""
    green = StatusRow(1, status=Status.GREEN, last_checkin_day="2026-03-01")
    facts = PersonFacts(1, green, "arrived", "2026-03-02", False, 0, checkin_abnormal_on_record=True)
    row = mended(green, facts)
    assert (row.status, row.hold_kind, row.hold_by_role, row.abnormal_day) == (
        "hold", "abnormal_checkin", "system", "2026-03-02")
    cleared = replace(green, last_checkin_day="2026-03-02", abnormal_day="2026-03-02")  # a counsellor cleared it
    assert mended(cleared, replace(facts, row=cleared)).status == "green"
