"""The holder's pass page and images: the inline SVG QR reads back to the pass text with the
door's decoders; PNG/SVG endpoints; what a person on hold or without a pass sees."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from qrdecode.decoders import decode_image_bytes, make_decoder
from server.arrivals import Arrivals
from server.web import state
from tests.passes.conftest import approve, checkin, login, people, person, publish

_PATH_CMD = re.compile(r"([MmHhVvZz])([^MmHhVvZz]*)")


def rasterise_segno_svg(svg: str, px_per_module: int = 6) -> np.ndarray:
    """A uint8 grey image of a segno SVG (one stroked path of horizontal runs on a white
    background), drawn without any SVG library: parse the path and paint the runs."""
    m = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert m, svg[:200]
    w, h = int(m.group(1)), int(m.group(2))
    d = re.search(r'class="qrline"[^>]*\sd="([^"]+)"', svg)
    assert d, "no QR path in the SVG"
    grid = np.full((h, w), 255, np.uint8)
    x = y = 0.0
    for cmd, args in _PATH_CMD.findall(d.group(1)):
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if cmd == "M":
            x, y = nums[0], nums[1]
        elif cmd == "m":
            x, y = x + nums[0], y + nums[1]
        elif cmd == "h":
            row = int(y)  # a stroke of width 1 centred on y = row + 0.5
            x0, x1 = sorted((x, x + nums[0]))
            grid[row, int(x0):int(x1)] = 0
            x += nums[0]
        else:
            raise AssertionError(f"unexpected path command {cmd}")
    return np.kron(grid, np.ones((px_per_module, px_per_module), np.uint8))


async def green_student(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await approve(client, "s1")
    s1, c1 = await person(app, "s1"), await person(app, "c1")
    await Arrivals(app[state.SERVICES].passes).confirm_arrival(s1.id, c1, app[state.CLOCK].now(), method="number")


@pytest.mark.parametrize("decoder_name", ["zxing", "pyzbar"])
async def test_page_svg_reads_back_to_the_pass_text(client: TestClient, decoder_name: str) -> None:
    await green_student(client)
    await login(client, "s1")
    api = await (await client.get("/api/v1/pass")).json()
    r = await client.get("/pass")
    page = await r.text()
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    assert 'class="pass-frame pass-green"' in page
    assert api["valid_until_local"] in page  # 2026-03-03 12:00, Beijing time
    assert "请勿截图" in page  # privacy note (zh-CN is the default language)
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg
    image = rasterise_segno_svg(html.unescape(svg.group(0)))
    texts = make_decoder(decoder_name).decode(image)
    assert texts == [api["pass_text"]]


async def test_png_and_svg_endpoints(client: TestClient) -> None:
    await green_student(client)
    await login(client, "s1")
    text = (await (await client.get("/api/v1/pass")).json())["pass_text"]
    r = await client.get("/api/v1/pass.png")
    assert r.status == 200 and r.content_type == "image/png"
    assert decode_image_bytes(await r.read(), make_decoder("zxing")) == [text]
    r = await client.get("/api/v1/pass.svg")
    assert r.status == 200 and r.content_type == "image/svg+xml"
    assert make_decoder("zxing").decode(rasterise_segno_svg(await r.text())) == [text]
    r = await client.get("/api/v1/pass.png?scale=99")
    assert r.status == 422 and (await r.json())["error"]["code"] == "invalid_field"


async def test_english_page_and_no_pass_states(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await login(client, "s1")
    client.session.cookie_jar.update_cookies({"cp_lang": "en"})
    page = await (await client.get("/pass")).text()
    assert "No approved return to campus." in page and "<svg" not in page
    assert "apply to return to campus" in page
    r = await client.get("/api/v1/pass.png")
    assert r.status == 404 and (await r.json())["error"]["code"] == "no_pass"

    await publish(app, "application_approved", "s1", actor="a1")
    await checkin(app, "s1", abnormal=True)
    page = await (await client.get("/pass")).text()
    assert "On hold" in page and "abnormal" in page and "counsellor" in page and "<svg" not in page
    body = await (await client.get("/api/v1/pass")).json()
    assert body["status"] == "hold" and body["reason_code"] == "abnormal_checkin" and body["pass_text"] is None


async def test_pass_page_requires_login(client: TestClient) -> None:
    r = await client.get("/pass", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/login")
    r = await client.get("/api/v1/pass")
    assert r.status == 401 and (await r.json())["error"]["code"] == "not_logged_in"


async def test_home_cards(client: TestClient) -> None:
    await green_student(client)
    await login(client, "s1")
    page = await (await client.get("/")).text()
    assert 'href="/pass"' in page and "绿码" in page
    await login(client, "c1")
    page = await (await client.get("/")).text()
    assert 'href="/arrivals"' in page and 'href="/admin/buildings"' not in page
    await login(client, "a1")
    page = await (await client.get("/")).text()
    assert 'href="/arrivals"' in page and 'href="/admin/buildings"' in page


async def test_routes_in_openapi(client: TestClient) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path in ("/api/v1/pass", "/api/v1/pass.png", "/api/v1/pass.svg", "/api/v1/arrivals",
                 "/api/v1/arrivals/identify", "/api/v1/arrivals/pending", "/api/v1/people/{number}/pass",
                 "/api/v1/people/{number}/pass/hold", "/api/v1/people/{number}/pass/clear",
                 "/api/v1/people/{number}/pass/revoke", "/api/v1/people/{number}/dormitory",
                 "/api/v1/buildings", "/api/v1/building-groups", "/api/v1/buildings/policy"):
        assert path in doc["paths"], path
