"""The university guide's story, unattended, through the public HTTP API only.

``campuspass demo --walkthrough`` and the end-to-end test run :class:`Walkthrough` against a
running server and a running library door node (:mod:`campuspass.demo_campus`). Each step
prints what it did and checks what it saw; the first step that does not behave as the guide
says raises :class:`StepFailed` naming the step and what was seen.

The story: a student logs in with the initial password, sets a new one and binds a phone with
the SMS code (read from the file gateway's ``DATA/sms-outbox.jsonl``), checks in, applies to
return with the four confirmations; the counsellor and then the school admin approve (SMS
sent); the black pass is refused at the library ("not cleared"); the counsellor confirms the
arrival from a photo of the pass; the green pass opens the library (relay pulsed); the student
reports a fever and, once the node has synced the revocation, the door refuses the old green
pass; the scans appear in the admin's sync log. Doors are shown passes by writing an image into
the node's watched camera folder; their verdicts and pin states are read from the node's
``/status`` endpoint.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from campuspass.demo_photo import jpeg, photo_of
from campuspass.demo_setup import REPEAT_WINDOW_S, DemoLayout, DemoNode
from server.workflow.checkins import NORMAL_ANSWERS
from shared.errors import CampusPassError

NEW_PASSWORD = "walkthrough-Pass-1"
STUDENT_PHONE = "13712345678"


class StepFailed(CampusPassError):
    """A step of the story did not behave as described. ``step`` names it, ``seen`` says what
    happened instead."""

    code = "step_failed"

    def __init__(self, step: str, seen: str) -> None:
        super().__init__(f"step '{step}' failed: {seen}")
        self.step = step
        self.seen = seen


@dataclass(frozen=True)
class DoorResult:
    """What a door did with one image.

    Attributes:
        verdict: ``accept`` or ``deny``; reason: the decision's reason code.
        seq: the record's sequence number in the node's log.
        relay_pulsed: the relay was seen ``unlocked`` after the decision.
        red_seen, green_seen: the red / green light was seen on after the decision.
        showing: the result pattern shown (``accept``, ``not_cleared``, ``invalid``, ...).
        revocation_version: the node's revocation list version at the decision.
    """

    verdict: str
    reason: str
    seq: int
    relay_pulsed: bool
    red_seen: bool
    green_seen: bool
    showing: str | None
    revocation_version: int


@dataclass
class StoryReport:
    """What the story produced, for callers that check more (the end-to-end test).

    Attributes:
        student: the student's number.
        black_text, green_text: the pass texts shown to the door.
        green_photo: the camera-like JPEG of the green pass (bytes).
        doors: door results by step name (``black``, ``green``, ``revoked``).
        server_scans: the library's scans of the student as the server lists them.
        sync_log: the library node's sync log entries.
    """

    student: str
    black_text: str = ""
    green_text: str = ""
    green_photo: bytes = b""
    doors: dict[str, DoorResult] = field(default_factory=dict)
    server_scans: list[dict[str, Any]] = field(default_factory=list)
    sync_log: list[dict[str, Any]] = field(default_factory=list)


class Walkthrough:
    """The story against ``layout``'s running server and library node.

    Args:
        layout: the demo campus (server URL, data directory, nodes, accounts).
        out: where step lines go (default ``print``).
        door_timeout_s: longest wait for a door decision (seconds).
        revocation_timeout_s: longest wait for the node to sync the revocation (seconds).
        http_timeout_s: per-request timeout (seconds).
    """

    def __init__(self, layout: DemoLayout, out: Callable[[str], None] = print, *,
                 door_timeout_s: float = 20.0, revocation_timeout_s: float = 30.0,
                 http_timeout_s: float = 15.0) -> None:
        self.layout = layout
        self.out = out
        self.door_timeout_s = door_timeout_s
        self.revocation_timeout_s = revocation_timeout_s
        self.http_timeout_s = http_timeout_s
        self.library = layout.node("library")
        self.outbox = Path(layout.data_dir) / "sms-outbox.jsonl"
        student = layout.account("student")
        self.student = str(student["number"])
        self.student_initial = str(student["password"])
        self.counsellor = next(a for a in layout.accounts if a["role"] == "counsellor"
                               and a["department"] == student["department"])
        self.school_admin = layout.account("school_admin")
        self.report = StoryReport(self.student)
        self._n = 0
        self._shown = 0
        self._clients: list[httpx.Client] = []
        self._last_decision_mono = 0.0

    # ---- printing and checking -------------------------------------------------------------

    def step(self, title: str) -> str:
        """Print the next step's heading; returns the title (for :class:`StepFailed`)."""
        self._n += 1
        self.out(f"\n[{self._n:2d}] {title}")
        return title

    def note(self, text: str) -> None:
        """Print a detail line of the current step."""
        self.out(f"     {text}")

    @staticmethod
    def expect(step: str, ok: bool, seen: str) -> None:
        """Raise :class:`StepFailed` for ``step`` with ``seen`` unless ``ok``."""
        if not ok:
            raise StepFailed(step, seen)

    # ---- HTTP ------------------------------------------------------------------------------

    def client(self) -> httpx.Client:
        """A new cookie-keeping client for the server (closed by :meth:`close`)."""
        c = httpx.Client(base_url=self.layout.url, timeout=self.http_timeout_s)
        self._clients.append(c)
        return c

    def call(self, step: str, c: httpx.Client, method: str, path: str, body: Any = None,
             expect_status: tuple[int, ...] = (200, 201)) -> Any:
        """One API request; the JSON answer (or raw bytes for images).

        Raises:
            StepFailed: a status not in ``expect_status``, or no answer.
        """
        try:
            if body is None and method != "GET":
                body = {}  # unsafe API requests are JSON, even without fields
            r = c.request(method, path, json=body) if body is not None else c.request(method, path)
        except httpx.HTTPError as exc:
            raise StepFailed(step, f"{method} {path}: no answer ({exc!r})") from exc
        if r.status_code not in expect_status:
            raise StepFailed(step, f"{method} {path} answered {r.status_code}: {r.text[:300]}")
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.content

    def login(self, step: str, number: str, password: str) -> tuple[httpx.Client, dict[str, Any]]:
        """Log in; returns the client holding the session cookie and the session JSON."""
        c = self.client()
        session = self.call(step, c, "POST", "/api/v1/auth/login", {"username": number, "password": password})
        return c, session

    def close(self) -> None:
        """Close every HTTP client."""
        for c in self._clients:
            c.close()
        self._clients.clear()

    # ---- SMS outbox (the file gateway) -----------------------------------------------------

    def sms_lines(self) -> list[dict[str, Any]]:
        """Every message the file gateway has written so far."""
        if not self.outbox.exists():
            return []
        out = []
        for line in self.outbox.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def wait_sms(self, step: str, phone: str, after: int, id_prefix: str = "", timeout_s: float = 15.0
                 ) -> dict[str, Any]:
        """The first message to ``phone`` (id starting with ``id_prefix``) written after the
        first ``after`` lines of the outbox.

        Raises:
            StepFailed: none within ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for msg in self.sms_lines()[after:]:
                if msg.get("phone") == phone and str(msg.get("id", "")).startswith(id_prefix):
                    return msg
            if time.monotonic() > deadline:
                raise StepFailed(step, f"no SMS to {phone} in {self.outbox.name} within {timeout_s:.0f} s")
            time.sleep(0.1)

    # ---- the door node ---------------------------------------------------------------------

    def node_status(self, step: str, node: DemoNode | None = None) -> dict[str, Any]:
        """The node's ``/status`` JSON.

        Raises:
            StepFailed: the status endpoint does not answer.
        """
        node = node or self.library
        try:
            r = httpx.get(node.status_url, timeout=5.0)
            r.raise_for_status()
            doc: dict[str, Any] = r.json()
            return doc
        except (httpx.HTTPError, ValueError) as exc:
            raise StepFailed(step, f"node {node.name} status at {node.status_url}: {exc!r}") from exc

    def show_image(self, image: bytes | np.ndarray, suffix: str = ".png", node: DemoNode | None = None) -> Path:
        """Put an image into the node's camera folder (written under a hidden name, then
        renamed, so the camera never reads half a file); returns its path."""
        node = node or self.library
        if node.camera_dir is None:
            raise CampusPassError(f"node {node.name} has a live camera; hold the pass up to it",
                                  code="no_camera_folder")
        if isinstance(image, np.ndarray):
            ok, buf = cv2.imencode(suffix, image)
            if not ok:
                raise CampusPassError(f"cannot encode the image as {suffix}", code="bad_image")
            image = bytes(buf.tobytes())
        self._shown += 1
        folder = Path(node.camera_dir)
        final = folder / f"pass-{os.getpid()}-{self._shown:03d}{suffix}"
        tmp = folder / f".{final.name}.part"
        tmp.write_bytes(image)
        os.replace(tmp, final)
        return final

    def door(self, step: str, image: bytes | np.ndarray, suffix: str = ".png", node: DemoNode | None = None,
             watch_s: float = 0.4) -> DoorResult:
        """Show ``image`` to the door and wait for its decision (read from ``/status``).

        Raises:
            StepFailed: no new decision within ``door_timeout_s``.
        """
        node = node or self.library
        # The same pass seen again within the door's repeat window is the same scan (no new
        # decision): a second showing waits until the window since the last decision has passed.
        wait_s = self._last_decision_mono + REPEAT_WINDOW_S + 0.3 - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)
        before = int(self.node_status(step, node)["decisions"])
        self.show_image(image, suffix, node)
        deadline = time.monotonic() + self.door_timeout_s
        decided_at: float | None = None
        relay = red = green = False
        showing: str | None = None
        last: dict[str, Any] = {}
        while True:
            status = self.node_status(step, node)
            if int(status["decisions"]) > before:
                if decided_at is None:
                    decided_at = time.monotonic()
                    last = status
                outputs = status["outputs"]
                relay |= outputs["relay"] == "unlocked"
                red |= bool(outputs["red"])
                green |= bool(outputs["green"])
                showing = showing or outputs.get("showing")
                if time.monotonic() - decided_at >= watch_s:
                    break
            elif time.monotonic() > deadline:
                raise StepFailed(step, f"the {node.name} door made no decision within {self.door_timeout_s:.0f} s "
                                 f"(camera {status['camera']}, decisions {status['decisions']})")
            time.sleep(0.03)
        d = last["last_decision"]
        self._last_decision_mono = decided_at
        return DoorResult(d["verdict"], d["reason"], int(d["seq"]), relay, red, green, showing,
                          int(last["trust"]["revocation_version"]))

    def door_opens(self, step: str, image: bytes | np.ndarray, suffix: str = ".png") -> DoorResult:
        """Show ``image`` to the library door and check that it opens: accept, green light,
        relay pulsed.

        Raises:
            StepFailed: the door did anything else (``seen`` starts ``door: <verdict> <reason>``).
        """
        d = self.door(step, image, suffix)
        self.expect(step, d.verdict == "accept" and d.reason == "accepted" and d.relay_pulsed and d.green_seen,
                    f"door: {d.verdict} {d.reason}, relay pulsed {d.relay_pulsed}, green {d.green_seen}")
        return d

    def wait_revocation(self, step: str, above: int) -> int:
        """Wait until the library node's revocation version is above ``above``; returns it.

        Raises:
            StepFailed: not within ``revocation_timeout_s``.
        """
        deadline = time.monotonic() + self.revocation_timeout_s
        while True:
            status = self.node_status(step)
            version = int(status["trust"]["revocation_version"])
            if version > above:
                return version
            if time.monotonic() > deadline:
                raise StepFailed(step, f"the node's revocation list stayed at version {version} for "
                                 f"{self.revocation_timeout_s:.0f} s (online: {status['online']}); "
                                 "the revocation never arrived")
            time.sleep(0.1)

    def wait_synced(self, step: str, timeout_s: float = 20.0) -> None:
        """Wait until the library node has no unsynced record.

        Raises:
            StepFailed: records still unsynced after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.node_status(step)
            if status["unsynced"] == 0:
                return
            if time.monotonic() > deadline:
                raise StepFailed(step, f"{status['unsynced']} scan(s) still unsynced after {timeout_s:.0f} s "
                                 f"(online: {status['online']})")
            time.sleep(0.1)

    # ---- the story -------------------------------------------------------------------------

    def run(self) -> StoryReport:
        """Run every step in order; returns the report.

        Raises:
            StepFailed: the first step that did not behave as described.
        """
        try:
            student = self.student_setup()
            self.checkin_and_apply(student)
            self.approvals()
            self.black_pass(student)
            self.arrival(student)
            self.green_pass(student)
            self.fever(student)
            self.sync_log()
        finally:
            self.close()
        return self.report

    def student_setup(self) -> httpx.Client:
        """Steps 1-3: first login, new password, phone bound with the SMS code."""
        s = self.step(f"student {self.student} logs in with the initial password (last six of the ID number)")
        c, session = self.login(s, self.student, self.student_initial)
        self.expect(s, session["must_change_password"] and session["must_bind_phone"],
                    f"first-login flags {session['must_change_password']}, {session['must_bind_phone']}")
        r = c.get("/api/v1/checkins/today")
        self.expect(s, r.status_code == 403 and r.json()["error"]["code"] == "setup_required",
                    f"before setup, check-in answered {r.status_code} {r.text[:200]}")
        self.note(f"logged in as {session['user']['name']}; setup required: new password, phone")

        s = self.step("the student sets a new password")
        session = self.call(s, c, "POST", "/api/v1/auth/password",
                            {"old_password": self.student_initial, "new_password": NEW_PASSWORD})
        self.expect(s, not session["must_change_password"], "the password is still the initial one")
        self.note("password changed")

        s = self.step(f"the student binds phone {STUDENT_PHONE} with the SMS code")
        seen = len(self.sms_lines())
        self.call(s, c, "POST", "/api/v1/auth/phone/code", {"phone": STUDENT_PHONE})
        msg = self.wait_sms(s, STUDENT_PHONE, seen)
        m = re.search(r"(?<!\d)(\d{6})(?!\d)", str(msg["body"]))
        self.expect(s, m is not None, f"no 6-digit code in the SMS {msg['body']!r}")
        assert m is not None
        self.note(f"SMS in {self.outbox.name}: {msg['body']}")
        session = self.call(s, c, "POST", "/api/v1/auth/phone/verify", {"phone": STUDENT_PHONE, "code": m.group(1)})
        self.expect(s, session["user"]["phone_verified"] and not session["must_bind_phone"],
                    f"phone not verified: {session['user']}")
        self.note("phone verified; the account is ready")
        return c

    def checkin_and_apply(self, c: httpx.Client) -> None:
        """Steps 4-5: a normal check-in, then a return application with the four confirmations."""
        s = self.step("the student checks in (36.5 °C, no symptoms)")
        done = self.call(s, c, "POST", "/api/v1/checkins/today", NORMAL_ANSWERS)
        self.expect(s, not done["checkin"]["abnormal"], f"check-in abnormal: {done['checkin']}")
        self.day = str(done["checkin"]["day"])
        self.note(f"check-in for {self.day} stored, normal")

        s = self.step("the student applies to return, with the four confirmations")
        app = self.call(s, c, "POST", "/api/v1/return-applications", {
            "planned_return_date": self.day, "departure_region_code": "110101",
            "itinerary": [{"mode": "rail", "service_no": "G1", "from_region_code": "110101",
                           "to_region_code": "310101", "depart_at": f"{self.day}T07:00:00",
                           "arrive_at": f"{self.day}T11:30:00"}],
            "reason": "returning for the new term",
            "confirmations": {"no_risk_area": True, "no_case_contact": True, "no_symptoms": True,
                              "not_quarantined": True}})
        self.expect(s, app["state"] == "submitted", f"application state {app['state']}")
        self.application_id = int(app["id"])
        self.note(f"application {app['id']} submitted (department {app['department']}, "
                  f"confirmations {app['confirmations_version']})")

    def approvals(self) -> None:
        """Steps 6-7: the counsellor, then the school admin approve; the approval SMS is sent."""
        s = self.step(f"counsellor {self.counsellor['number']} approves for the department")
        c, _ = self.login(s, str(self.counsellor["number"]), str(self.counsellor["password"]))
        queue = self.call(s, c, "GET", "/api/v1/review/return-applications")
        ids = [int(entry["application"]["id"]) for entry in queue["items"]]
        self.expect(s, self.application_id in ids, f"application {self.application_id} not in the queue {ids}")
        app = self.call(s, c, "POST", f"/api/v1/return-applications/{self.application_id}/approve")
        self.expect(s, app["state"] == "dept_approved", f"state {app['state']}")
        self.note("state: dept_approved")

        s = self.step(f"school admin {self.school_admin['number']} approves; the student gets an SMS")
        seen = len(self.sms_lines())
        c, _ = self.login(s, str(self.school_admin["number"]), str(self.school_admin["password"]))
        app = self.call(s, c, "POST", f"/api/v1/return-applications/{self.application_id}/approve")
        self.expect(s, app["state"] == "approved", f"state {app['state']}")
        msg = self.wait_sms(s, STUDENT_PHONE, seen, "application_approved:")
        self.note("state: approved")
        self.note(f"SMS to {msg['phone']}: {msg['body']}")

    def black_pass(self, c: httpx.Client) -> None:
        """Step 8: the pass is black and the library door says "not cleared"."""
        s = self.step("the pass is black and the library door says 'not cleared'")
        p = self.call(s, c, "GET", "/api/v1/pass")
        self.expect(s, p["status"] == "black" and bool(p["pass_text"]), f"pass status {p['status']}: {p['reason']}")
        self.report.black_text = str(p["pass_text"])
        png = self.call(s, c, "GET", "/api/v1/pass.png")
        self.note(f"black pass, valid until {p['valid_until_local']} (campus time); "
                  f"pass.png saved into {self.library.name}'s camera folder")
        d = self.door(s, png)
        self.report.doors["black"] = d
        self.expect(s, d.verdict == "deny" and d.reason == "not_cleared" and not d.relay_pulsed and d.red_seen,
                    f"door: {d.verdict} {d.reason}, relay pulsed {d.relay_pulsed}, red {d.red_seen}")
        self.note(f"door: deny (not_cleared), red light, relay locked [log seq {d.seq}]")

    def arrival(self, c: httpx.Client) -> None:
        """Step 9: the counsellor confirms the arrival from a photo of the pass."""
        s = self.step("the counsellor confirms the arrival from a photo of the pass")
        png = self.call(s, c, "GET", "/api/v1/pass.png")
        photo = jpeg(photo_of(png, seed=11))
        cc, _ = self.login(s, str(self.counsellor["number"]), str(self.counsellor["password"]))
        who = self.call(s, cc, "POST", "/api/v1/arrivals/identify",
                        {"image_base64": base64.b64encode(photo).decode("ascii")})
        self.expect(s, who["person"]["number"] == self.student and who["status"] == "black",
                    f"the photo identified {who['person']} ({who['status']})")
        self.note(f"photo ({len(photo) // 1024} KiB JPEG, skewed, blurred, noisy) identifies "
                  f"{who['person']['name']} ({who['person']['number']}), pass {who['status']}")
        done = self.call(s, cc, "POST", "/api/v1/arrivals", {"number": self.student})
        self.expect(s, done["arrived"] and done["status"] == "green", f"arrival answered {done}")
        self.note("arrival confirmed")

    def green_pass(self, c: httpx.Client) -> None:
        """Step 10-11: the pass is green; the library door opens for a photo of it."""
        s = self.step("the pass is green")
        p = self.call(s, c, "GET", "/api/v1/pass")
        self.expect(s, p["status"] == "green" and bool(p["pass_text"]), f"pass status {p['status']}: {p['reason']}")
        self.report.green_text = str(p["pass_text"])
        self.note(f"green pass, serial {p['serial']}, valid until {p['valid_until_local']} (campus time)")

        s = self.step("the library door opens for a camera photo of the green pass")
        png = self.call(s, c, "GET", "/api/v1/pass.png")
        self.report.green_photo = jpeg(photo_of(png, seed=23), quality=90)
        d = self.door_opens(s, self.report.green_photo, ".jpg")
        self.report.doors["green"] = d
        self.note(f"door: accept, green light, relay pulsed (unlocked) [log seq {d.seq}]")

    def fever(self, c: httpx.Client) -> None:
        """Steps 12-13: a fever; after the node syncs the revocation the old green pass is refused."""
        s = self.step("the student reports a fever (38.6 °C)")
        self.note("(an edit of today's check-in stands in for \"the next day\": a same-day resubmission "
                  "updates the day's answers)")
        before = int(self.node_status(s)["trust"]["revocation_version"])
        done = self.call(s, c, "POST", "/api/v1/checkins/today",
                         {**NORMAL_ANSWERS, "temperature_c": 38.6, "symptoms": ["fever"]})
        self.expect(s, done["checkin"]["abnormal"], f"check-in not abnormal: {done['checkin']}")
        p = self.call(s, c, "GET", "/api/v1/pass")
        self.expect(s, p["status"] == "hold", f"pass status {p['status']} after a fever")
        self.note(f"check-in abnormal; pass on hold: {p['reason']}")

        s = self.step("the node syncs the revocation and the door refuses the old green pass")
        version = self.wait_revocation(s, before)
        self.note(f"node revocation list: version {before} -> {version}")
        d = self.door(s, self.report.green_photo, ".jpg")
        self.report.doors["revoked"] = d
        self.expect(s, d.verdict == "deny" and d.reason == "revoked" and not d.relay_pulsed and d.red_seen,
                    f"door: {d.verdict} {d.reason}, relay pulsed {d.relay_pulsed}")
        self.note(f"door: deny (revoked), red light, relay locked [log seq {d.seq}]")

    def sync_log(self) -> None:
        """Step 14: the scans reach the server; the admin sees them and the node's sync log."""
        s = self.step("the scans appear in the admin's sync log")
        self.wait_synced(s)
        c, _ = self.login(s, str(self.school_admin["number"]), str(self.school_admin["password"]))
        log = self.call(s, c, "GET", f"/api/v1/nodes/{self.library.node_id}/sync-log")
        inserted = sum(int(x["inserted"]) for x in log["syncs"])
        self.report.sync_log = list(log["syncs"])
        scans = self.call(s, c, "GET", f"/api/v1/scans?building={self.library.building}&person={self.student}")
        mine = sorted(scans["scans"], key=lambda x: int(x["seq"]))
        self.report.server_scans = mine
        reasons = [x["reason"] for x in mine]
        self.expect(s, reasons[-3:] == ["not_cleared", "accepted", "revoked"] and inserted >= 3,
                    f"server scans {reasons}, records inserted by syncs {inserted}")
        self.note(f"sync log of {self.library.node_id}: {len(log['syncs'])} syncs, {inserted} records received; "
                  f"node {log['node']['status']}, acknowledged to seq {log['node']['acked_seq']}")
        for x in mine:
            self.note(f"scan seq {x['seq']}: {x['verdict']} {x['reason']} - {x['person_name']} ({x['person_number']})")
