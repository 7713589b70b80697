"""The presence reads that pick a plan by size (server.storage.presence), on both backends."""

from __future__ import annotations

import os

from aiohttp.test_utils import TestClient

from server.storage.people import NewPerson, People
from server.storage.presence import PresenceStore
from server.web import state


async def test_people_by_ids_answers_the_same_by_lookup_and_by_one_read_of_everyone(client: TestClient) -> None:
    assert client.server.app is not None
    db = client.server.app[state.SERVICES].db  # the app started on its database
    subjects = [os.urandom(8) for _ in range(1200)]
    async with db.transaction() as conn:
        await People.upsert_department(conn, "CS", "Computer science")
        await People.upsert_many(conn, [NewPerson(f"N{i:04d}", f"Name {i}", "student", "CS", None, None, "x", s)
                                        for i, s in enumerate(subjects)], 0)
    store = PresenceStore(db)
    ids = {r[1]: r[0] for r in await db.fetch_all("SELECT id, number FROM people")}
    strangers = [max(ids.values()) + 1 + i for i in range(5)]  # no such person
    for wanted in (subjects[::5], subjects[::2]):  # 240 looked up by index; 600 (1/2 of everyone) read whole
        numbers = [f"N{subjects.index(s):04d}" for s in wanted]
        got = await store.people_by_ids([ids[n] for n in numbers] + strangers + [ids[n] for n in numbers[:3]])
        assert set(got) == {ids[n] for n in numbers}
        for n in numbers:
            ref = got[ids[n]]
            assert (ref.id, ref.number, ref.name, ref.department) == (ids[n], n, f"Name {int(n[1:])}", "CS")
