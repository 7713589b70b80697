"""Arrival confirmation: photo upload, pasted text, number; department scope without leaks."""

from __future__ import annotations

import base64
import re

import cv2
import numpy as np
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from server.qr import qr_png
from server.storage.applications import Applications
from server.storage.audit import AuditLog
from server.web import state
from shared.clock import FakeClock
from shared.pass_format import PassStatus, decode_pass
from tests.passes.conftest import approve, login, people, person


def phone_photo(text: str, angle_deg: float = 14.0, size: tuple[int, int] = (810, 1080), quality: int = 80) -> bytes:
    """The pass rendered to PNG, then shown on a 'screen' inside a larger scene, rotated,
    blurred and shrunk to a phone photo's size, saved as JPEG."""
    qr = cv2.imdecode(np.frombuffer(qr_png(text, scale_px=10), np.uint8), cv2.IMREAD_COLOR)
    scene = np.full((1800, 1400, 3), (70, 80, 90), np.uint8)  # a dim desk around the phone
    y, x = (scene.shape[0] - qr.shape[0]) // 2, (scene.shape[1] - qr.shape[1]) // 2
    scene[y:y + qr.shape[0], x:x + qr.shape[1]] = qr
    h, w = scene.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    scene = cv2.warpAffine(scene, rot, (w, h), borderValue=(70, 80, 90))
    scene = cv2.GaussianBlur(scene, (5, 5), 1.2)
    scene = cv2.resize(scene, size, interpolation=cv2.INTER_AREA)  # 3:4 phone photo
    noise = np.random.default_rng(7).normal(0, 6, scene.shape)  # sensor noise
    scene = np.clip(scene + noise, 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return jpg.tobytes()


async def black_student(client: TestClient, number: str = "s1") -> str:
    """Approve ``number``'s return and check them in; returns their black pass text."""
    app = client.server.app
    assert app is not None
    await approve(client, number)
    view = await app[state.SERVICES].passes.view(await person(app, number), app[state.CLOCK].now())
    assert view.status == "black" and view.pass_text is not None
    return view.pass_text


async def csrf(client: TestClient, path: str = "/arrivals") -> str:
    r = await client.get(path)
    assert r.status == 200, await r.text()
    m = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
    assert m
    return m.group(1)


async def test_photo_upload_page_identifies_then_confirms(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await black_student(client)
    photo = phone_photo(text)
    assert 64 * 1024 < len(photo) < 400_000  # a phone-sized JPEG, larger than an ordinary form

    await login(client, "c1")
    token = await csrf(client)
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("photo", photo, filename="pass.jpg", content_type="image/jpeg")
    r = await client.post("/arrivals/identify", data=form)
    page = await r.text()
    assert r.status == 200, page
    assert "Zhang San" in page and "s1" in page
    hidden = re.search(r'name="pass_text" value="([^"]+)"', page)
    assert hidden and hidden.group(1) == text
    assert 'name="via" value="photo"' in page

    r = await client.post("/arrivals/confirm", data={"csrf_token": token, "pass_text": text, "via": "photo"},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/arrivals?msg=arrival_confirmed&who=s1"
    done = await (await client.get(r.headers["Location"])).text()
    assert "（s1）到校" in done  # the message names who was confirmed

    s1 = await person(app, "s1")
    row = await app[state.SERVICES].passes.store.get(s1.id)
    assert row.status == "green"
    assert row.current_text is not None
    assert decode_pass(row.current_text).fields.status is PassStatus.GREEN
    c1 = await person(app, "c1")
    assert [(by, how) for _, by, how in await app[state.SERVICES].passes.store.arrivals_of(s1.id)] == [(c1.id, "photo")]
    audit = await AuditLog(app[state.SERVICES].db).recent(action="arrival_confirmed")
    assert [(e.actor_number, e.target_person_id, e.detail) for e in audit] == [("c1", s1.id, {"method": "photo"})]


async def test_photo_api_base64_and_confirm_by_text(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await black_student(client)
    await login(client, "c1")
    r = await client.post("/api/v1/arrivals/identify",
                          json={"image_base64": base64.b64encode(phone_photo(text, -8.0)).decode()})
    body = await r.json()
    assert r.status == 200, body
    assert body == {"person": {"number": "s1", "name": "Zhang San", "department": "CS", "class_name": None},
                    "status": "black", "arrived": False}
    big = phone_photo(text, 5.0, size=(1536, 2048), quality=95)
    assert len(big) > 256 * 1024  # larger than an ordinary JSON body
    r = await client.post("/api/v1/arrivals/identify", json={"image_base64": base64.b64encode(big).decode()})
    assert r.status == 200, await r.text()
    r = await client.post("/api/v1/arrivals", json={"pass_text": text})
    body = await r.json()
    assert r.status == 200, body
    assert body["status"] == "green" and body["arrived"] is True
    # the workflow's application moved approved -> arrived in the same transaction
    s1 = await person(app, "s1")
    (application,) = await Applications(app[state.SERVICES].db).of_person(s1.id)
    c1 = await person(app, "c1")
    assert (application.state, application.arrived_by) == ("arrived", c1.id)
    # a second confirmation is refused; the old black pass is still a valid pass of the same person
    r = await client.post("/api/v1/arrivals", json={"number": "s1"})
    assert r.status == 409 and (await r.json())["error"]["code"] == "already_arrived"


async def test_other_department_refused_without_the_name(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    other_text = await black_student(client, "o1")  # Li Si of EE
    await login(client, "c1")  # counsellor of CS only
    answers = []
    for body in ({"pass_text": other_text}, {"number": "o1"}, {"number": "nobody"}):
        for path in ("/api/v1/arrivals", "/api/v1/arrivals/identify"):
            r = await client.post(path, json=body)
            raw = await r.text()
            assert r.status == 403, raw
            assert "Li Si" not in raw and "o1" not in raw and "EE" not in raw
            answers.append((await r.json())["error"])
    assert len({(a["code"], a["message"]) for a in answers}) == 1  # unknown and not-yours look the same
    assert answers[0]["code"] == "department_scope"

    token = await csrf(client)
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("photo", phone_photo(other_text), filename="p.jpg", content_type="image/jpeg")
    r = await client.post("/arrivals/identify", data=form)
    page = await r.text()
    assert r.status == 403 and "Li Si" not in page
    o1 = await person(app, "o1")
    assert (await app[state.SERVICES].passes.store.get(o1.id)).status == "black"
    # and the pending list shows only the counsellor's own department
    r = await client.get("/api/v1/arrivals/pending")
    assert (await r.json()) == {"students": []}


async def test_bad_inputs_are_4xx(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await black_student(client)
    await login(client, "c1")
    cases = [
        ({"pass_text": "HC1:NOT-OURS"}, 422, "pass_refused"),
        ({"pass_text": text[:-6] + "AAAAAA"}, 422, "pass_refused"),
        ({"image_base64": "***"}, 422, "invalid_field"),
        ({"image_base64": base64.b64encode(b"not an image").decode()}, 422, "bad_image"),
        ({}, 422, "invalid_field"),
        ({"pass_text": text, "number": "s1"}, 422, "invalid_field"),
    ]
    blank = cv2.imencode(".png", np.full((200, 200), 255, np.uint8))[1].tobytes()
    cases.append(({"image_base64": base64.b64encode(blank).decode()}, 422, "no_pass_in_photo"))
    for body, status, code in cases:
        r = await client.post("/api/v1/arrivals/identify", json=body)
        assert r.status == status, (body, await r.text())
        assert (await r.json())["error"]["code"] == code
    r = await client.post("/api/v1/arrivals", json={"pass_text": "HC1:NOT-OURS"})
    assert (await r.json())["error"] == {"code": "pass_refused", "message": "the pass was refused: not_campus_pass",
                                         "reason": "not_campus_pass"}
    # an expired pass is refused with its reason
    clock.advance(2 * 86400)
    r = await client.post("/api/v1/arrivals", json={"pass_text": text})
    assert r.status == 422 and (await r.json())["error"]["reason"] == "expired"
    # students may not confirm arrivals
    await login(client, "s1")
    r = await client.post("/api/v1/arrivals", json={"number": "s1"})
    assert r.status == 403


async def test_pick_from_pending_list(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await black_student(client)
    await login(client, "c1")
    r = await client.get("/api/v1/arrivals/pending")
    assert (await r.json())["students"] == [
        {"number": "s1", "name": "Zhang San", "department": "CS", "class_name": None}]
    page = await (await client.get("/arrivals")).text()
    assert 'name="number" value="s1"' in page and "Zhang San" in page
    token = await csrf(client)
    r = await client.post("/arrivals/identify", data={"csrf_token": token, "number": "s1", "via": "list"})
    assert r.status == 200 and "Zhang San" in await r.text()
    r = await client.post("/arrivals/confirm", data={"csrf_token": token, "number": "s1", "via": "list"},
                          allow_redirects=False)
    assert r.status == 303
    r = await client.get("/api/v1/arrivals/pending")
    assert (await r.json())["students"] == []
    s1 = await person(app, "s1")
    assert [how for _, _, how in await app[state.SERVICES].passes.store.arrivals_of(s1.id)] == ["list"]
    # without CSRF the form is refused
    r = await client.post("/arrivals/confirm", data={"number": "s1"})
    assert r.status == 403


async def test_photo_api_multipart(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await black_student(client)
    r = await client.post("/api/v1/auth/login", json={"username": "c1", "password": "correct-horse-9"})
    csrf_token = (await r.json())["csrf_token"]
    photo = phone_photo(text, 20.0)

    def form(token: str, confirm: bool = False) -> FormData:
        f = FormData()
        f.add_field("csrf_token", token)
        f.add_field("photo", photo, filename="pass.jpg", content_type="image/jpeg")
        if confirm:
            f.add_field("confirm", "1")
        return f

    r = await client.post("/api/v1/arrivals/photo", data=form("forged"))
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf_failed"
    r = await client.post("/api/v1/arrivals/photo", data=form(csrf_token))
    body = await r.json()
    assert r.status == 200, body
    assert body["person"]["name"] == "Zhang San" and body["arrived"] is False
    r = await client.post("/api/v1/arrivals/photo", data=form(csrf_token, confirm=True))
    body = await r.json()
    assert r.status == 200 and body["status"] == "green" and body["arrived"] is True
    r = await client.post("/api/v1/arrivals/photo", json={})
    assert r.status == 422 and (await r.json())["error"]["code"] == "invalid_field"
    doc = await (await client.get("/api/v1/openapi.json")).json()
    content = doc["paths"]["/api/v1/arrivals/photo"]["post"]["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["photo"]["format"] == "binary"


def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height`` pixels (rows of zeros, compressed)."""
    import struct
    import zlib

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 3)
    idat = b"".join(comp.compress(row) for _ in range(min(height, 64))) + comp.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_image_size_reads_headers_of_png_jpeg_webp() -> None:
    from server.arrivals import image_size

    img = np.zeros((123, 457, 3), np.uint8)
    for ext, params in ((".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])):
        assert image_size(cv2.imencode(ext, img, params)[1].tobytes()) == (457, 123), (ext, params)
    assert image_size(_png_declaring(30_000, 30_000)) == (30_000, 30_000)
    for other in (cv2.imencode(".bmp", img)[1].tobytes(), cv2.imencode(".tiff", img)[1].tobytes(), b"",
                  b"\xff\xd8", b"\x89PNG\r\n\x1a\n"):
        assert image_size(other) is None


async def test_a_photo_declaring_too_many_pixels_is_refused_before_decoding(client: TestClient) -> None:
    await people(client)
    await login(client, "c1")
    bomb = _png_declaring(20_000, 20_000)  # 400 MP: 1.2 GB of pixels once decoded
    assert len(bomb) < 100_000
    r = await client.post("/api/v1/arrivals/identify", json={"image_base64": base64.b64encode(bomb).decode()})
    assert r.status == 413, await r.text()
    assert (await r.json())["error"]["code"] == "photo_too_large"
    page = await client.get("/arrivals")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    form = FormData()
    form.add_field("csrf_token", token.group(1))
    form.add_field("photo", bomb, filename="p.png", content_type="image/png")
    r = await client.post("/api/v1/arrivals/photo", data=form)
    assert r.status == 413 and (await r.json())["error"]["code"] == "photo_too_large"
    tiff = cv2.imencode(".tiff", np.zeros((50, 50, 3), np.uint8))[1].tobytes()  # readable, but not png/jpg/webp
    r = await client.post("/api/v1/arrivals/identify", json={"image_base64": base64.b64encode(tiff).decode()})
    assert r.status == 422 and (await r.json())["error"]["code"] == "bad_image"
