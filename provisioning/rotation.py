"""Issuer key rotation (docs/architecture.md §5; timeline in ``docs/keys.md``).

A rotation has three steps, the same whether the root key is on the server or offline:

1. :func:`start_rotation` (server) makes the next issuer key (``keys/issuer-NNNN.key``, 0600)
   and a :class:`RotationRequest`: the new public key and validity, the moment it starts
   signing (``signing_from`` = now + overlap), and the new ``valid_until`` of every older
   certificate it retires. The request is kept in ``trust/pending-rotation.json``.
2. :func:`sign_request` (wherever the root key is) checks the request against the current
   bundle and returns a :class:`RotationResponse`: the new certificate and trust bundle
   version + 1, signed by the root.
3. :func:`install_response` (server) checks the response against the pinned root and the
   pending request, publishes the bundle and schedules the new key in ``trust/signing.json``.

Timing. The new certificate is published ``overlap`` before the key signs, so door nodes
that sync in that window know the key before the first pass signed with it reaches them.
The key it replaces signs until ``signing_from``; a pass lasts at most
:func:`max_pass_lifetime_s` (a student pass until the next day's check-in deadline, a visitor
pass ``visitor_max_hours``), so its certificate is re-issued valid until::

    retire_at = signing_from + max_pass_lifetime_s + RETIRE_MARGIN_S

Certificates whose ``valid_until`` has passed are left out of the next bundle and their
private keys are deleted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from provisioning.init import CERT_BACKDATE_S
from server.config import PassConfig, ServerConfig, load_server_config
from server.datadir import DataDir, DataDirError, write_atomic
from shared.campus_time import parse_hhmm
from shared.clock import to_unix
from shared.errors import CampusPassError
from shared.keys import (
    Ed25519PrivateKey,
    b64u_decode,
    b64u_encode,
    generate_key,
    load_private_key,
    public_key_bytes,
    save_private_key,
)
from shared.signed_doc import require
from shared.trust import IssuerCertificate, TrustBundle, issue_certificate, make_bundle

REQUEST_TYPE = "campuspass/issuer-request/v1"
RESPONSE_TYPE = "campuspass/issuer-response/v1"

# Extra time a retired certificate stays valid after its last pass expires: covers door nodes
# whose clock runs late (a node trusts its clock only to within this much; see docs/keys.md).
RETIRE_MARGIN_S = 3600

DAY_S = 86_400
MAX_KEY_ID = 0xFFFF


class RotationError(CampusPassError):
    """A rotation step refused: pending request, stale request, mismatched response. Code ``rotation``."""

    code = "rotation"


def max_pass_lifetime_s(passes: PassConfig) -> int:
    """The longest a pass signed now can stay valid, in seconds.

    A student pass signed at 00:00 Asia/Shanghai (no daylight saving) lasts until the check-in
    deadline of the following day: 24 h + the deadline's time of day (36 h for ``12:00``).
    A visitor pass lasts at most ``visitor_max_hours``. The larger of the two.

    Raises:
        ValueError: ``checkin_deadline`` is not ``HH:MM``.
    """
    deadline = parse_hhmm(passes.checkin_deadline)
    student_s = DAY_S + deadline.hour * 3600 + deadline.minute * 60 + deadline.second
    return max(student_s, passes.visitor_max_hours * 3600)


def pending_path(dd: DataDir) -> Path:
    """``trust/pending-rotation.json``: the request waiting for the root's signature."""
    return dd.trust_dir / "pending-rotation.json"


@dataclass(frozen=True)
class RotationRequest:
    """What the root is asked to sign.

    Attributes:
        created_at_s: Unix seconds when the server made the request; also the new bundle's
            ``issued_at`` (the offline machine's clock is not trusted).
        based_on_version: the trust bundle version this request extends.
        root_key: the root public key the request is for (32 bytes).
        key_id: the new issuer key id.
        public_key: the new issuer public key (32 bytes; its private key stays on the server).
        valid_from_s, valid_until_s: the new certificate's validity (Unix seconds).
        signing_from_s: when the server starts signing with the new key (Unix seconds).
        retire: ``{key_id: valid_until_s}`` for each older certificate re-issued to end after
            its last pass has expired.
        drop: key ids whose certificates have expired and leave the bundle.
    """

    created_at_s: int
    based_on_version: int
    root_key: bytes
    key_id: int
    public_key: bytes
    valid_from_s: int
    valid_until_s: int
    signing_from_s: int
    retire: dict[int, int]
    drop: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """The request as a JSON object (times Unix seconds, keys base64url)."""
        return {
            "type": REQUEST_TYPE,
            "created_at": self.created_at_s,
            "based_on_version": self.based_on_version,
            "root_key": b64u_encode(self.root_key),
            "key_id": self.key_id,
            "public_key": b64u_encode(self.public_key),
            "valid_from": self.valid_from_s,
            "valid_until": self.valid_until_s,
            "signing_from": self.signing_from_s,
            "retire": {str(k): v for k, v in sorted(self.retire.items())},
            "drop": list(self.drop),
        }

    @classmethod
    def from_json(cls, doc: Any) -> RotationRequest:
        """Parse a request object.

        Raises:
            RotationError: not a request, or a member is missing or of the wrong type.
        """
        try:
            if require(doc, "type", str, "rotation request") != REQUEST_TYPE:
                raise RotationError(f"type {doc.get('type')!r}; expected {REQUEST_TYPE!r}")
            retire_doc = require(doc, "retire", dict, "rotation request")
            drop = require(doc, "drop", list, "rotation request")
            req = cls(
                created_at_s=require(doc, "created_at", int, "rotation request"),
                based_on_version=require(doc, "based_on_version", int, "rotation request"),
                root_key=b64u_decode(require(doc, "root_key", str, "rotation request")),
                key_id=require(doc, "key_id", int, "rotation request"),
                public_key=b64u_decode(require(doc, "public_key", str, "rotation request")),
                valid_from_s=require(doc, "valid_from", int, "rotation request"),
                valid_until_s=require(doc, "valid_until", int, "rotation request"),
                signing_from_s=require(doc, "signing_from", int, "rotation request"),
                retire={int(k): int(v) for k, v in retire_doc.items()},
                drop=tuple(int(k) for k in drop),
            )
        except (ValueError, TypeError) as exc:
            raise RotationError(f"rotation request: {exc}") from exc
        except RotationError:
            raise
        except CampusPassError as exc:
            raise RotationError(f"rotation request: {exc.message}") from exc
        if len(req.public_key) != 32 or len(req.root_key) != 32:
            raise RotationError("rotation request: keys must be 32 bytes")
        return req


@dataclass(frozen=True)
class RotationResponse:
    """The root's answer: the new certificate and the new signed trust bundle (unverified here)."""

    key_id: int
    certificate: dict[str, Any]
    bundle: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The response as a JSON object."""
        return {"type": RESPONSE_TYPE, "key_id": self.key_id,
                "certificate": self.certificate, "bundle": self.bundle}

    @classmethod
    def from_json(cls, doc: Any) -> RotationResponse:
        """Parse a response object.

        Raises:
            RotationError: not a response, or a member is missing or of the wrong type.
        """
        try:
            if require(doc, "type", str, "rotation response") != RESPONSE_TYPE:
                raise RotationError(f"type {doc.get('type')!r}; expected {RESPONSE_TYPE!r}")
            return cls(
                key_id=require(doc, "key_id", int, "rotation response"),
                certificate=require(doc, "certificate", dict, "rotation response"),
                bundle=require(doc, "bundle", dict, "rotation response"),
            )
        except RotationError:
            raise
        except CampusPassError as exc:
            raise RotationError(f"rotation response: {exc.message}") from exc


@dataclass(frozen=True)
class RotationResult:
    """An installed rotation: the new key, the published bundle and what happened to old keys."""

    key_id: int
    bundle_version: int
    signing_from_s: int
    retired: dict[int, int]
    dropped: tuple[int, ...]


def plan_rotation(
    bundle: TrustBundle,
    schedule: dict[int, int],
    new_key_id: int,
    now_s: int,
    overlap_s: int,
    pass_lifetime_s: int,
) -> tuple[int, dict[int, int], tuple[int, ...]]:
    """Decide ``(signing_from_s, retire, drop)`` for a new key ``new_key_id`` (pure).

    The server signs with the highest key id whose start has come (:meth:`DataDir.current_signer`),
    so key ``k`` signs until the earliest start of any higher key. A key whose end moves earlier
    because of this rotation is retired: its certificate ends ``pass_lifetime_s +
    RETIRE_MARGIN_S`` after its last signing moment. Certificates already expired at
    ``now_s`` are dropped.

    Args:
        bundle: the current trust bundle.
        schedule: ``{key_id: signing_from_s}`` from ``trust/signing.json``.
        new_key_id: the key being added.
        now_s: Unix seconds.
        overlap_s: publication lead before the new key signs, seconds (≥ 0).
        pass_lifetime_s: :func:`max_pass_lifetime_s`.
    """
    signing_from = now_s + overlap_s
    with_new = {**schedule, new_key_id: signing_from}
    retire: dict[int, int] = {}
    drop: list[int] = []
    for cert in bundle.issuers:
        if cert.valid_until_s <= now_s:
            drop.append(cert.key_id)
            continue
        old_end = min((s for k, s in schedule.items() if k > cert.key_id), default=None)
        new_end = min(s for k, s in with_new.items() if k > cert.key_id)
        if old_end is None or new_end < old_end:
            retire[cert.key_id] = new_end + pass_lifetime_s + RETIRE_MARGIN_S
    return signing_from, retire, tuple(drop)


def next_key_id(dd: DataDir, bundle: TrustBundle) -> int:
    """One more than the highest key id in the bundle, the schedule or ``keys/``.

    Raises:
        RotationError: key ids are exhausted (65535).
    """
    ids = {c.key_id for c in bundle.issuers} | set(dd.signing_schedule())
    for path in dd.keys_dir.glob("issuer-*.key"):
        try:
            ids.add(int(path.stem.split("-", 1)[1]))
        except ValueError:
            continue
    new_id = max(ids, default=0) + 1
    if new_id > MAX_KEY_ID:
        raise RotationError(f"issuer key id {new_id} exceeds {MAX_KEY_ID}")
    return new_id


def start_rotation(
    dd: DataDir,
    now: datetime,
    overlap_s: int | None = None,
    config: ServerConfig | None = None,
    *,
    drop_old: bool = False,
) -> RotationRequest:
    """Make the next issuer key and the request for its certificate; keep the request pending.

    Args:
        dd: an initialised server data directory.
        now: current time, aware.
        overlap_s: publication lead in seconds; default ``keys.rotation_overlap_hours``
            (0 with ``drop_old``).
        config: the server config; default read from ``server.toml``.
        drop_old: emergency rotation after an issuer key may have leaked: every older
            certificate leaves the bundle at once (passes it signed stop verifying on nodes
            that sync) and the new key signs at once.

    Raises:
        RotationError: a rotation is already pending, ``overlap_s`` < 0, or ``drop_old`` with
            an overlap (there would be no key to sign with in between).
        DataDirError: not a data directory.
    """
    dd.require_initialised()
    if pending_path(dd).exists():
        raise RotationError(
            f"a rotation is already pending ({pending_path(dd).name}); install its response first: "
            "campuspass provision install-response"
        )
    config = config or load_server_config(dd.config_path)
    if overlap_s is None:
        overlap_s = 0 if drop_old else config.keys.rotation_overlap_hours * 3600
    if overlap_s < 0:
        raise RotationError(f"overlap {overlap_s} s; expected ≥ 0")
    if drop_old and overlap_s:
        raise RotationError(f"overlap {overlap_s} s with drop_old; expected 0 (the new key must sign at once)")
    bundle = dd.trust_bundle()
    now_s = to_unix(now)
    key_id = next_key_id(dd, bundle)
    signing_from, retire, drop = plan_rotation(
        bundle, dd.signing_schedule(), key_id, now_s, overlap_s, max_pass_lifetime_s(config.passes)
    )
    if drop_old:
        retire, drop = {}, tuple(c.key_id for c in bundle.issuers)
    valid_until = now_s + config.keys.issuer_valid_days * DAY_S
    if valid_until <= signing_from + max_pass_lifetime_s(config.passes):
        raise RotationError(
            f"issuer_valid_days = {config.keys.issuer_valid_days} is shorter than the overlap; "
            "expected a certificate that outlives its first passes"
        )
    key = generate_key()
    save_private_key(key, dd.issuer_key_path(key_id))
    request = RotationRequest(
        created_at_s=now_s,
        based_on_version=bundle.version,
        root_key=dd.root_public(),
        key_id=key_id,
        public_key=public_key_bytes(key),
        valid_from_s=now_s - CERT_BACKDATE_S,
        valid_until_s=valid_until,
        signing_from_s=signing_from,
        retire=retire,
        drop=drop,
    )
    write_atomic(pending_path(dd), json.dumps(request.to_json(), indent=1), 0o600)
    return request


def sign_request(root: Ed25519PrivateKey, request: RotationRequest, bundle_doc: Any) -> RotationResponse:
    """Sign a rotation request with the root key (on the server or the offline machine).

    Args:
        root: the root private key.
        request: the server's request.
        bundle_doc: the current trust bundle (JSON object or text), checked against ``root``.

    Raises:
        RotationError: the request is for another root, is based on another bundle version,
            reuses a key id, or names certificates the bundle does not hold.
        BundleSignatureError, DocumentError: the bundle is not this root's.
    """
    root_raw = public_key_bytes(root)
    if request.root_key != root_raw:
        raise RotationError("the request is for another root key than the one given")
    bundle = TrustBundle.load(bundle_doc, root_raw)
    if bundle.version != request.based_on_version:
        raise RotationError(
            f"the request extends trust bundle v{request.based_on_version} but the bundle given is "
            f"v{bundle.version}; make a new request"
        )
    held = {c.key_id for c in bundle.issuers}
    if request.key_id in held:
        raise RotationError(f"issuer key id {request.key_id} is already in trust bundle v{bundle.version}")
    unknown = (set(request.retire) | set(request.drop)) - held
    if unknown:
        raise RotationError(f"the request names key ids {sorted(unknown)} that bundle v{bundle.version} lacks")
    for key_id, until in request.retire.items():
        if until <= request.signing_from_s:
            raise RotationError(f"key {key_id} would expire before the new key signs ({until})")
    certs: list[IssuerCertificate] = []
    for cert in bundle.issuers:
        if cert.key_id in request.drop:
            continue
        if cert.key_id in request.retire:
            cert = issue_certificate(root, cert.key_id, cert.public_key, cert.valid_from_s,
                                     request.retire[cert.key_id])
        certs.append(cert)
    new_cert = issue_certificate(root, request.key_id, request.public_key,
                                 request.valid_from_s, request.valid_until_s)
    certs.append(new_cert)
    new_bundle = make_bundle(root, bundle.version + 1, request.created_at_s, certs)
    return RotationResponse(request.key_id, new_cert.to_json(), new_bundle.to_json())


def read_pending(dd: DataDir) -> RotationRequest:
    """The pending request of this data directory.

    Raises:
        RotationError: no rotation is pending.
    """
    path = pending_path(dd)
    if not path.exists():
        raise RotationError("no rotation is pending here; start one: campuspass provision rotate-issuer")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RotationError(f"{path.name} is not JSON: {exc}") from None
    return RotationRequest.from_json(doc)


def install_response(dd: DataDir, response: RotationResponse, now: datetime) -> RotationResult:
    """Publish the root-signed bundle of a pending rotation and schedule the new key.

    Checks: the bundle verifies with the pinned root and is version + 1 of the current one;
    it holds the new key's certificate for the private key kept here, and the retired
    certificates as requested. Then writes ``trust/bundle.json`` and ``trust/signing.json``,
    deletes the private keys of dropped certificates and the pending request.

    Raises:
        RotationError: nothing pending, a mismatch, or ``now`` is past ``signing_from`` (the
            bundle would reach nodes after the key starts signing: make a new request). A
            request that retires nothing (``drop_old``) starts signing at install instead.
        BundleSignatureError, DocumentError: the bundle is not signed by the pinned root.
    """
    request = read_pending(dd)
    current = dd.trust_bundle()
    bundle = TrustBundle.load(response.bundle, dd.root_public())
    if current.version != request.based_on_version or bundle.version != current.version + 1:
        raise RotationError(
            f"response bundle v{bundle.version} does not follow the current v{current.version} "
            f"(request was made on v{request.based_on_version})"
        )
    certs = {c.key_id: c for c in bundle.issuers}
    new_cert = certs.get(request.key_id)
    key = load_private_key(dd.issuer_key_path(request.key_id))
    if response.key_id != request.key_id or new_cert is None or new_cert.public_key != public_key_bytes(key):
        raise RotationError(f"the response does not certify the pending issuer key {request.key_id}")
    if (new_cert.valid_from_s, new_cert.valid_until_s) != (request.valid_from_s, request.valid_until_s):
        raise RotationError(f"the response certifies key {request.key_id} for another validity")
    for key_id, until in request.retire.items():
        if key_id not in certs or certs[key_id].valid_until_s != until:
            raise RotationError(f"the response does not retire key {key_id} as requested")
    if any(k in certs for k in request.drop):
        raise RotationError(f"the response keeps certificates {list(request.drop)} that should leave")
    now_s = to_unix(now)
    signing_from = request.signing_from_s
    if now_s > signing_from and not request.retire:
        signing_from = now_s  # nothing was timed on the start (--drop-old): start at install
    if now_s > signing_from:
        raise RotationError(
            f"too late: key {request.key_id} was to start signing at {request.signing_from_s} "
            f"(now {now_s}); discard {pending_path(dd).name} and make a new request"
        )
    dd.write_trust_bundle(bundle)
    schedule = dd.signing_schedule()
    schedule[request.key_id] = signing_from
    for key_id in request.drop:
        schedule.pop(key_id, None)
        dd.issuer_key_path(key_id).unlink(missing_ok=True)
    dd.write_signing_schedule(schedule)
    pending_path(dd).unlink()
    return RotationResult(request.key_id, bundle.version, signing_from, dict(request.retire), request.drop)


def rotate_issuer(
    dd: DataDir,
    now: datetime,
    overlap_s: int | None = None,
    config: ServerConfig | None = None,
    *,
    drop_old: bool = False,
) -> RotationResult:
    """Rotate with the root key held in ``keys/root.key``: start, sign and install in one go.

    Raises:
        DataDirError: code ``root_offline`` when the root key is not here (nothing is changed;
            use ``--offline-request``).
        RotationError: see :func:`start_rotation`.
    """
    dd.require_initialised()
    if not dd.root_key_path.exists():
        raise DataDirError(
            "the root key is not on this server (kept offline); use: campuspass provision rotate-issuer "
            f"--data {dd.root} --offline-request OUT.json",
            code="root_offline",
        )
    root = dd.root_private()
    request = start_rotation(dd, now, overlap_s, config, drop_old=drop_old)
    response = sign_request(root, request, dd.trust_bundle().to_json())
    return install_response(dd, response, now)


def write_json_new(path: Path, doc: dict[str, Any], mode: int = 0o600) -> None:
    """Write ``doc`` as JSON to a new file (never overwrites).

    Raises:
        DataDirError: the file exists.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise DataDirError(f"{path} exists; refusing to overwrite it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.write("\n")


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file.

    Raises:
        RotationError: the file is missing or not JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RotationError(f"{what} {path} does not exist") from None
    except ValueError as exc:
        raise RotationError(f"{what} {path} is not JSON: {exc}") from None
