"""Signing passes and checking them online with the shared door decision."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from server.datadir import DataDir
from server.policy import current_policy
from server.storage.buildings import Buildings
from server.storage.passes import Passes
from shared.clock import from_unix, to_unix
from shared.decision import Verdict, decide
from shared.errors import CampusPassError
from shared.pass_format import ALL_GROUPS, PassFields, PassStatus, sign_pass
from shared.policy import BuildingPolicy
from shared.revocation import RevocationSet, make_delta


def new_serial() -> bytes:
    """8 random bytes for a pass serial."""
    return os.urandom(8)


def new_subject_id() -> bytes:
    """8 random bytes: a pseudonymous subject id (never derived from the student number)."""
    return os.urandom(8)


@dataclass(frozen=True, slots=True)
class IssuedText:
    """A freshly signed pass: its text and fields."""

    text: str
    fields: PassFields


async def issue_pass(
    datadir: DataDir,
    passes: Passes,
    *,
    subject: bytes,
    status: PassStatus,
    scope: tuple[int, ...],
    valid_from: datetime,
    valid_until: datetime,
    now: datetime,
    issued_by: str,
    person_id: int | None = None,
    visitor_name: str | None = None,
    conn: aiosqlite.Connection | None = None,
) -> IssuedText:
    """Sign a pass with the current issuer key and record it (inside ``conn``, the caller's
    transaction, when given: e.g. together with the pass status it belongs to).

    Raises:
        DataDirError: no issuer key can sign now.
        PassFormatError: a field out of range (e.g. more than 3 scope entries).
        CampusPassError: code ``pass_outlives_key`` when ``valid_until`` is later than the
            signing key's certificate ``valid_until`` (a door would stop accepting the pass
            before it expires); rotate the issuer key first.
    """
    signer = datadir.current_signer(now)
    cert_until_s = next(c.valid_until_s for c in datadir.trust_bundle().issuers if c.key_id == signer.key_id)
    if to_unix(valid_until) > cert_until_s:
        raise CampusPassError(
            f"pass valid until {from_unix(to_unix(valid_until)):%Y-%m-%d %H:%M:%S}Z outlives issuer key "
            f"{signer.key_id}, whose certificate is valid until {from_unix(cert_until_s):%Y-%m-%d %H:%M:%S}Z; "
            "rotate: campuspass provision rotate-issuer",
            code="pass_outlives_key",
        )
    fields = PassFields(
        key_id=signer.key_id,
        serial=new_serial(),
        subject=subject,
        status=status,
        scope=scope,
        valid_from_s=to_unix(valid_from),
        valid_until_s=to_unix(valid_until),
        visitor=visitor_name is not None,
    )
    text = sign_pass(fields, signer.key)
    await passes.record(
        fields,
        issued_at_s=to_unix(now),
        issued_by=issued_by,
        person_id=person_id,
        visitor_name=visitor_name,
        conn=conn,
    )
    return IssuedText(text, fields)


async def revocation_set(passes: Passes, now_s: int) -> RevocationSet:
    """Every unexpired revocation as a set for the decision function."""
    rs = RevocationSet()
    for entry in await passes.revocations_since(0, now_s):
        rs.add(entry)
    return rs


ANY_BUILDING = BuildingPolicy(building="*", group=ALL_GROUPS)

#: Arrival confirmation (docs/architecture.md §2.6): a black pass is what a counsellor scans; green is
#: admitted too so that an already-arrived student is recognised rather than refused.
ARRIVAL_POLICY = BuildingPolicy(
    building="*arrival*", group=ALL_GROUPS, allowed_statuses=frozenset({PassStatus.BLACK, PassStatus.GREEN})
)


async def signed_revocation_delta(datadir: DataDir, passes: Passes, since: int, now: datetime) -> dict[str, Any]:
    """The revocation entries added after list version ``since`` and still unexpired at ``now``,
    as a delta document signed by the current issuer key (``shared.revocation.make_delta``;
    shape in :mod:`shared.revocation`). ``version`` is the list's current version; a node at
    version ``since`` applies the entries and moves to ``version``. A ``since`` beyond the
    list's version (the verifier is ahead of a restored server) is answered from that version.

    Raises:
        DataDirError: no issuer key can sign now.
    """
    now_s = to_unix(now)
    signer = datadir.current_signer(now)
    current = await passes.revocation_version()
    # a verifier ahead of the server (a server restored from an older backup) restarts from ours
    since = max(0, min(since, current))
    entries = await passes.revocations_since(since, now_s) if current > since else []
    return make_delta(signer.key, signer.key_id, since, current, now_s, entries)


async def check_online(
    datadir: DataDir,
    passes: Passes,
    buildings: Buildings,
    text: str,
    now: datetime,
    building: str | None = None,
    policy: BuildingPolicy | None = None,
) -> Verdict:
    """The door decision done on the server, with its current trust, revocations and policy.

    Without ``building`` the scope and hours checks are skipped (group 0 = any building).
    ``policy`` overrides the building lookup (e.g. :data:`ARRIVAL_POLICY`, which admits black).

    Raises:
        CampusPassError: code ``unknown_building`` for an unknown building code.
    """
    now_s = to_unix(now)
    if policy is None:
        policy = ANY_BUILDING
        if building is not None:
            policy = (await current_policy(buildings, now_s)).for_building(building)
    return decide(text, datadir.trust_bundle(), await revocation_set(passes, now_s), policy, now)
