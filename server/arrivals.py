"""Arrival confirmation by a counsellor (docs/architecture.md §2.6).

Three ways to say who arrived: a photo of the student's pass (decoded on the server with the
door's own decoders, :mod:`qrdecode.decoders`), the pasted pass text, or the student number
(picked from the department's approved-not-arrived list). A pass is checked online with the
shared door decision (:func:`server.passes.check_online` with :data:`server.passes.ARRIVAL_POLICY`,
which admits black). The counsellor learns who it is only when the person belongs to one of
their departments: otherwise the answer is :class:`NotYours`, the very same error as for an
unknown person, so no name or existence leaks across departments.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import datetime

from qrdecode.decoders import Decoder, DecoderError, decode_image_bytes, make_decoder
from server.errors import Forbidden, InvalidField, TooLarge
from server.pass_status import AuditNote, PassService, PassStatusError
from server.passes import ARRIVAL_POLICY, check_online
from server.scope import can_see_person
from server.storage.audit import AuditLog
from server.storage.pass_status import StatusRow
from server.storage.people import Person
from server.workflow.applications import active_application, mark_arrived
from shared.clock import to_unix
from shared.decision import Reason
from shared.pass_format import PREFIX_FAMILY

#: Largest accepted photo (bytes).
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: Largest accepted photo (pixels, width x height): a 50 MP phone camera's full frame. A small
#: compressed file can declare a huge image (200 KB of PNG decode to 8000 x 8000, about 190 MB
#: of pixels), so the size is read from the header before anything is decoded.
MAX_PHOTO_PIXELS = 50_000_000


class NotYours(Forbidden):
    """403 ``department_scope``: the pass or number names nobody in the counsellor's departments
    (the same answer for an unknown person and for another department's student)."""

    code = "department_scope"

    def __init__(self) -> None:
        super().__init__("no such student in your departments")


class PassRefused(InvalidField):
    """``pass_refused`` (category invalid): the pass failed the door decision; ``detail.reason`` is the reason code."""

    code = "pass_refused"

    def __init__(self, reason: Reason) -> None:
        super().__init__(f"the pass was refused: {reason.value}", detail={"reason": reason.value})


class NoPassInPhoto(InvalidField):
    """``no_pass_in_photo`` (category invalid): no campus pass QR code could be read from the photo."""

    code = "no_pass_in_photo"


@dataclass(frozen=True, slots=True)
class Candidate:
    """Who a counsellor is about to confirm: the person, their pass status, how they were
    identified (``photo``, ``text``, ``list`` or ``number``), and the pass text and serial when
    identified by a pass (None when by number)."""

    person: Person
    status: StatusRow
    method: str
    serial: bytes | None = None
    pass_text: str | None = None


@functools.cache
def _decoder() -> Decoder:
    return make_decoder("zxing")


def decode_photo(data: bytes, decoder: Decoder | None = None) -> str:
    """The campus pass text in a photo (png/jpg/webp bytes).

    Raises:
        TooLarge: ``photo_too_large`` (more than :data:`MAX_PHOTO_BYTES` bytes or
            :data:`MAX_PHOTO_PIXELS` pixels). InvalidField: ``bad_image`` (not png/jpg/webp, by
            :func:`image_size`), ``no_pass_in_photo``.
    """
    if len(data) > MAX_PHOTO_BYTES:
        raise TooLarge(f"the photo has {len(data)} bytes; at most {MAX_PHOTO_BYTES}", code="photo_too_large")
    size = image_size(data)
    if size is None:
        raise InvalidField("the upload is not a readable image (png, jpg, webp)", code="bad_image")
    if size[0] * size[1] > MAX_PHOTO_PIXELS:
        raise TooLarge(f"the photo is {size[0]} x {size[1]} pixels; at most {MAX_PHOTO_PIXELS // 1_000_000} "
                       "million", code="photo_too_large")
    try:
        texts = decode_image_bytes(data, decoder or _decoder())
    except DecoderError as exc:
        raise InvalidField(exc.message, code="bad_image") from None
    ours = [t for t in texts if t.lstrip().startswith(PREFIX_FAMILY)]
    if not ours:
        raise NoPassInPhoto("no campus pass could be read from the photo; hold the phone steady, "
                            "fill the frame with the code and try again")
    return ours[0]


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` in pixels read from the header of PNG, JPEG or WebP bytes, without
    decoding the image; None when ``data`` is none of them (or the header is cut short).

    Sources: PNG IHDR (ISO/IEC 15948 §11.2.2); JPEG SOFn marker segments (ITU-T T.81 §B.2.2);
    WebP ``VP8 ``/``VP8L``/``VP8X`` chunks (RFC 9649 §2.5-2.7).
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            return (int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF)
        if chunk == b"VP8L" and data[20] == 0x2F:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC are not frames


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # segments without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _JPEG_SOF:
            if length < 7 or i + 9 > n:
                return None
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        if marker == 0xD9 or length < 2:
            return None
        i += 2 + length
    return None


class Arrivals:
    """Identify and confirm arrivals for a counsellor (or a school admin: every department).

    Args:
        service: the pass status service.
    """

    def __init__(self, service: PassService) -> None:
        self.service = service

    async def by_text(self, viewer: Person, text: str, now: datetime, method: str = "text") -> Candidate:
        """Identify the holder of pass ``text``.

        Raises:
            PassRefused: the door decision denied the pass (bad signature, expired, revoked...).
            NotYours: the pass's subject is unknown or not in the viewer's departments.
        """
        s = self.service
        verdict = await check_online(s.datadir, s.passes, s.buildings, text, now, policy=ARRIVAL_POLICY)
        if not verdict.accepted or verdict.fields is None:
            raise PassRefused(verdict.reason)
        person = await s.people.by_subject(verdict.fields.subject)
        if person is None or not can_see_person(viewer, person) or person.id == viewer.id:
            raise NotYours()
        return Candidate(person, await s.store.get(person.id), method, verdict.fields.serial, text)

    async def by_photo(self, viewer: Person, data: bytes, now: datetime) -> Candidate:
        """Identify the holder of the pass in a photo (decoded off the event loop).

        Raises:
            DomainError: as :func:`decode_photo` and :meth:`by_text`.
        """
        text = await asyncio.get_running_loop().run_in_executor(None, decode_photo, data)
        return await self.by_text(viewer, text, now, method="photo")

    async def by_number(self, viewer: Person, number: str, method: str = "number") -> Candidate:
        """Identify a student by number (``method`` ``list`` when picked from the pending list).

        Raises:
            NotYours: unknown number or not in the viewer's departments.
        """
        s = self.service
        person = await s.people.by_number(number.strip())
        if person is None or not can_see_person(viewer, person) or person.id == viewer.id:
            raise NotYours()
        return Candidate(person, await s.store.get(person.id), method)

    async def confirm(self, viewer: Person, candidate: Candidate, now: datetime, *,
                      audit: AuditNote | None = None) -> StatusRow:
        """Record the arrival of ``candidate`` confirmed by ``viewer``: see :meth:`confirm_arrival`.

        Raises:
            PassStatusError: ``already_arrived`` or ``not_awaiting_arrival`` (conflict).
        """
        return await self.confirm_arrival(candidate.person.id, viewer, now, method=candidate.method,
                                          serial=candidate.serial, audit=audit)

    async def confirm_arrival(self, person_id: int, counsellor: Person, now: datetime, *, method: str,
                              serial: bytes | None = None, audit: AuditNote | None = None) -> StatusRow:
        """One unit of work: the person's pass status black → green (a fresh green pass when
        checked in today), the approved application → ``arrived`` (who, when), the arrival
        record and the audit entry ``arrival_confirmed`` commit together or not at all.

        Raises:
            PassStatusError: ``already_arrived`` or ``not_awaiting_arrival`` (also when the person
                has no approved application).
        """
        db = self.service.db
        async with db.transaction() as conn:
            row = await self.service.arrived(conn, person_id, counsellor.id, now, method=method, serial=serial)
            application = await active_application(db, person_id)
            if application is None or application.state != "approved":
                raise PassStatusError("no approved return application awaits arrival", code="not_awaiting_arrival")
            await mark_arrived(db, application.id, actor_id=counsellor.id, actor_role=counsellor.role, at=now,
                               conn=conn)
            if audit is not None:
                await AuditLog.add(conn, at_s=to_unix(now), actor_id=counsellor.id, actor_number=audit.actor_number,
                                   action="arrival_confirmed", target_person_id=person_id,
                                   detail={"method": method}, address=audit.address)
        return row
