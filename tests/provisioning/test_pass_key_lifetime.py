"""issue_pass refuses a pass that would outlive the certificate of the key signing it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from server.datadir import DataDir
from server.passes import issue_pass, new_subject_id
from server.storage import Database
from server.storage.passes import Passes
from shared.clock import FakeClock, from_unix
from shared.errors import CampusPassError
from shared.pass_format import ALL_GROUPS, PassStatus


async def _issue(dd: DataDir, now: datetime, until: datetime) -> str:
    db = await Database.open(dd.db_path)
    try:
        issued = await issue_pass(
            dd, Passes(db), subject=new_subject_id(), status=PassStatus.GREEN, scope=(ALL_GROUPS,),
            valid_from=now, valid_until=until, now=now, issued_by="test",
        )
        return issued.text
    finally:
        await db.close()


async def test_pass_ending_with_the_certificate_is_signed(dd: DataDir, clock: FakeClock) -> None:
    cert_until = from_unix(dd.trust_bundle().issuers[0].valid_until_s)
    assert cert_until == clock.now() + timedelta(days=400)  # issuer_valid_days default
    assert (await _issue(dd, clock.now(), cert_until)).startswith("CP1:")


async def test_pass_outliving_the_certificate_is_refused(dd: DataDir, clock: FakeClock) -> None:
    cert_until = from_unix(dd.trust_bundle().issuers[0].valid_until_s)
    with pytest.raises(CampusPassError) as err:
        await _issue(dd, clock.now(), cert_until + timedelta(seconds=1))
    assert err.value.code == "pass_outlives_key"
    # both times named: the pass's end and the certificate's end
    assert f"{cert_until + timedelta(seconds=1):%Y-%m-%d %H:%M:%S}Z" in err.value.message
    assert f"{cert_until:%Y-%m-%d %H:%M:%S}Z" in err.value.message
    db = await Database.open(dd.db_path)
    try:
        assert await db.fetch_all("SELECT serial FROM passes") == []  # nothing recorded
    finally:
        await db.close()
