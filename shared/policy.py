"""Building groups and door policy (docs/architecture.md §5, §6).

A building belongs to one group; rules are per group: which pass statuses may enter
(green only by default; an arrival-mode door also admits black) and opening hours in
Asia/Shanghai local time (empty = always open; ``"22:00-06:00"`` spans midnight).

Signed policy document (domain ``building-policy/v1``, signed by an issuer key)::

    {"version": 4, "issued_at": 1764800000, "key_id": 1,
     "groups": [{"id": 1, "name": "dorm-east", "allowed_statuses": ["green"],
                 "hours": ["06:00-23:30"]}],
     "buildings": [{"code": "D7", "name": "Dormitory 7", "group": 1}],
     "signature": "..."}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from shared.campus_time import local, parse_hhmm
from shared.errors import CampusPassError, DocumentError, SignatureError
from shared.keys import Ed25519PrivateKey
from shared.pass_format import PassStatus
from shared.signed_doc import require, sign_document, verify_document
from shared.trust import TrustBundle

POLICY_DOMAIN = "building-policy/v1"


@dataclass(frozen=True, slots=True)
class BuildingPolicy:
    """What one door enforces.

    Attributes:
        building: building code, e.g. ``"LIB"``.
        group: building group id (pass scope entries name groups; 0 in a pass = all).
        allowed_statuses: statuses admitted (default green only).
        hours: opening windows as (start, end) local times; empty = always open.
    """

    building: str
    group: int
    allowed_statuses: frozenset[PassStatus] = frozenset({PassStatus.GREEN})
    hours: tuple[tuple[time, time], ...] = ()

    def open_at(self, instant: datetime) -> bool:
        """True when ``instant`` (aware) falls in an opening window, Asia/Shanghai time."""
        if not self.hours:
            return True
        t = local(instant).time()
        for start, end in self.hours:
            if start <= end:
                if start <= t <= end:
                    return True
            elif t >= start or t <= end:
                return True
        return False


def parse_hours(windows: list[str]) -> tuple[tuple[time, time], ...]:
    """Parse ``["07:00-23:00", ...]``.

    Raises:
        ValueError: a window is not ``HH:MM-HH:MM``.
    """
    out = []
    for w in windows:
        start, sep, end = w.partition("-")
        if not sep:
            raise ValueError(f"opening window {w!r} is not HH:MM-HH:MM")
        out.append((parse_hhmm(start.strip()), parse_hhmm(end.strip())))
    return tuple(out)


def parse_statuses(names: list[str]) -> frozenset[PassStatus]:
    """Parse ``["green", "black"]``.

    Raises:
        ValueError: an unknown status name.
    """
    out = set()
    for n in names:
        try:
            out.add(PassStatus[n.upper()])
        except KeyError:
            raise ValueError(f"pass status {n!r}; expected black or green") from None
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class PolicySet:
    """A verified policy document: every building's policy, at ``version``."""

    version: int
    issued_at_s: int
    buildings: dict[str, BuildingPolicy]
    names: dict[str, str]

    def for_building(self, code: str) -> BuildingPolicy:
        """The policy of building ``code``.

        Raises:
            CampusPassError: code ``unknown_building``.
        """
        try:
            return self.buildings[code]
        except KeyError:
            raise CampusPassError(
                f"building {code!r} is not in policy v{self.version}; known: {sorted(self.buildings)}",
                code="unknown_building",
            ) from None


def make_policy_document(
    key: Ed25519PrivateKey,
    key_id: int,
    version: int,
    issued_at_s: int,
    groups: list[dict[str, Any]],
    buildings: list[dict[str, Any]],
) -> dict[str, Any]:
    """Sign a policy document (shape in the module docstring)."""
    body = {
        "version": version,
        "issued_at": issued_at_s,
        "key_id": key_id,
        "groups": groups,
        "buildings": buildings,
    }
    return sign_document(POLICY_DOMAIN, body, key)


def parse_policy_document(doc: dict[str, Any]) -> PolicySet:
    """Parse a policy document without checking its signature.

    Raises:
        DocumentError: wrong shape, unknown group, bad hours or status names.
    """
    try:
        version = require(doc, "version", int, "policy")
        issued_at = require(doc, "issued_at", int, "policy")
        groups: dict[int, tuple[frozenset[PassStatus], tuple[tuple[time, time], ...]]] = {}
        for g in require(doc, "groups", list, "policy"):
            gid = require(g, "id", int, "policy group")
            groups[gid] = (
                parse_statuses(require(g, "allowed_statuses", list, "policy group")),
                parse_hours(require(g, "hours", list, "policy group")),
            )
        buildings: dict[str, BuildingPolicy] = {}
        names: dict[str, str] = {}
        for b in require(doc, "buildings", list, "policy"):
            code = require(b, "code", str, "policy building")
            gid = require(b, "group", int, "policy building")
            if gid not in groups:
                raise ValueError(f"building {code!r} names unknown group {gid}")
            statuses, hours = groups[gid]
            buildings[code] = BuildingPolicy(code, gid, statuses, hours)
            names[code] = str(b.get("name", code))
    except (CampusPassError, ValueError) as exc:
        raise DocumentError(f"policy document: {exc}") from exc
    return PolicySet(version, issued_at, buildings, names)


def verify_policy_document(doc: dict[str, Any], trust: TrustBundle, now_s: int) -> PolicySet:
    """Check the policy signature with the issuer key it names, then parse it.

    Raises:
        DocumentError, UnknownKeyError, CertificateNotValidError, SignatureError.
    """
    key_id = require(doc, "key_id", int, "policy")
    key = trust.issuer_key(key_id, now_s)
    try:
        verify_document(POLICY_DOMAIN, doc, key)
    except SignatureError as exc:
        raise SignatureError("policy document signature does not verify") from exc
    return parse_policy_document(doc)
