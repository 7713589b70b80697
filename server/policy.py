"""Building policy from the database: the document nodes receive and the server's own view."""

from __future__ import annotations

from typing import Any

from server.storage.buildings import Buildings
from shared.keys import Ed25519PrivateKey
from shared.policy import PolicySet, make_policy_document, parse_policy_document


async def policy_body(buildings: Buildings) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """``(version, groups, buildings)`` in the policy document's JSON shape."""
    groups = [
        {"id": g.id, "name": g.name, "allowed_statuses": g.allowed_statuses, "hours": g.hours}
        for g in await buildings.groups()
    ]
    blds = [{"code": b.code, "name": b.name, "group": b.group_id} for b in await buildings.buildings()]
    return await buildings.policy_version(), groups, blds


async def current_policy(buildings: Buildings, now_s: int) -> PolicySet:
    """The policy as the server enforces it online (no signature needed in-process)."""
    version, groups, blds = await policy_body(buildings)
    return parse_policy_document(
        {"version": version, "issued_at": now_s, "groups": groups, "buildings": blds}
    )


async def signed_policy_document(
    buildings: Buildings, key: Ed25519PrivateKey, key_id: int, now_s: int
) -> dict[str, Any]:
    """The policy document signed by the current issuer key, for door nodes."""
    version, groups, blds = await policy_body(buildings)
    return make_policy_document(key, key_id, version, now_s, groups, blds)
