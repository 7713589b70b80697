"""The presence reads that pick a plan by size (server.storage.presence), on both backends."""

from __future__ import annotations

import os

from aiohttp.test_utils import TestClient

from server.storage.people import NewPerson, People
from server.storage.presence import PresenceStore
from server.web import state


async def test_people_of_subjects_answers_the_same_by_lookup_and_by_one_read_of_everyone(client: TestClient) -> None:
    assert client.server.app is not None
    db = client.server.app[state.SERVICES].db  # the app started on its database
    subjects = [os.urandom(8) for _ in range(1200)]
    async with db.transaction() as conn:
        await People.upsert_department(conn, "CS", "Computer science")
        await People.upsert_many(conn, [NewPerson(f"N{i:04d}", f"Name {i}", "student", "CS", None, None, "x", s)
                                        for i, s in enumerate(subjects)], 0)
    store = PresenceStore(db)
    strangers = [os.urandom(8) for _ in range(5)]  # visitor passes: nobody's
    for wanted in (subjects[::5], subjects[::2]):  # 240 looked up by index; 600 (1/2 of everyone) read whole
        got = await store.people_of_subjects(wanted + strangers + wanted[:3])
        assert set(got) == set(wanted)
        for s in wanted:
            i = subjects.index(s)
            assert (got[s].number, got[s].name, got[s].department) == (f"N{i:04d}", f"Name {i}", "CS")
