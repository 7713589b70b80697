"""Schemathesis against the OpenAPI document the server serves (``/api/v1/openapi.json``): every
operation, with data generated from its schema (valid and invalid), sent over real HTTP as a
logged-in student and as a logged-in school admin. No answer may be a server error (5xx), and
every answer must match the schema the document declares for it (the success shape, or the
error envelope).

Bounded: ``CAMPUSPASS_FUZZ_EXAMPLES`` examples per operation, generation mode and role (default
4: about 1,000 requests, well under a minute on two cores), derandomized so that CI runs the
same cases every time; set it higher, and ``CAMPUSPASS_FUZZ_SEED`` to a number for other cases,
for a longer hunt. The server runs in a thread with its
own event loop: schemathesis calls are blocking.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from provisioning.init import init_data_dir
from shared.clock import FakeClock

from ..sync.helpers import START, LoopbackServer, active_person, add_buildings

EXAMPLES = int(os.environ.get("CAMPUSPASS_FUZZ_EXAMPLES", "4"))
SEED = os.environ.get("CAMPUSPASS_FUZZ_SEED")  # a number: other cases than CI's fixed ones
PASSWORD = "correct-horse-9"
# Sent without the session: a login or logout on it would end the session the run uses.
ANONYMOUS = {"/api/v1/auth/login", "/api/v1/auth/login/code", "/api/v1/auth/logout"}


class ThreadedServer:
    """The server on 127.0.0.1 in a thread of its own (its own event loop)."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        clock = FakeClock(START)
        self.server = LoopbackServer(init_data_dir(tmp / "server", clock, admin=None).datadir, clock)
        self.sessions: dict[str, requests.Session] = {}
        self.run(self.server.start())

    def run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=60)

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    srv = ThreadedServer(tmp_path_factory.mktemp("fuzz"))
    try:
        srv.run(add_buildings(srv.server))
        srv.run(active_person(srv.server, "2024001", "student", department="CS", password=PASSWORD))
        srv.run(active_person(srv.server, "adm", "school_admin", password=PASSWORD))
        # Both log in before any run: the generated logins (wrong passwords from this address)
        # soon slow this address's logins down, as the throttle should.
        srv.sessions = {number: _session(srv.server.url, number) for number in ("2024001", "adm")}
        yield srv
    finally:
        srv.close()


def _session(base: str, number: str) -> requests.Session:
    s = requests.Session()
    r = s.post(f"{base}/api/v1/auth/login", json={"username": number, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return s


def _fuzz(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, base: str,
          session: requests.Session) -> None:
    """``EXAMPLES`` generated requests to ``operation``; raises on the first failing answer."""

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, session=session, timeout=30)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    (check if SEED is None else seed(int(SEED))(check))()


@pytest.mark.parametrize("number", ["2024001", "adm"], ids=["student", "school_admin"])
def test_generated_requests_get_no_5xx_and_answers_match_the_schema(live: ThreadedServer, number: str) -> None:
    base = live.server.url
    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(doc, config=schemathesis.Config())
    logged_in = live.sessions[number]
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # the server's own document: every operation loads
        session = requests.Session() if operation.path in ANONYMOUS else logged_in
        operations += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, base, session)
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body): positive mode covers it
            except Exception as exc:  # noqa: BLE001 - every failing operation is reported at the end
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:2000])
        assert logged_in.get(f"{base}/api/v1/me", timeout=30).status_code == 200, (
            f"{operation.method.upper()} {operation.path} ended the session")
    assert operations > 50
    assert not failures, "\n\n".join(failures)


def test_the_checks_catch_a_5xx_and_a_wrong_shape(live: ThreadedServer) -> None:
    """The run above could pass by checking nothing: the same checks refuse an answer that does
    not match a (deliberately wrong) declared shape, and a server error."""
    base = live.server.url
    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=30).json()
    me = doc["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]
    me["schema"] = {"type": "object", "required": ["no_such_member"]}
    schema = schemathesis.openapi.from_dict(doc, config=schemathesis.Config())
    operation = schema["/api/v1/me"]["GET"]
    case = operation.Case()
    response = case.call(base_url=base, session=live.sessions["adm"], timeout=30)
    assert response.status_code == 200
    with pytest.raises(FailureGroup) as wrong_shape:
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    assert any("no_such_member" in str(e) for e in wrong_shape.value.exceptions)
    server_error = requests.Response()
    server_error.status_code, server_error._content = 500, b'{"error": {"code": "internal", "message": "x"}}'
    server_error.headers["Content-Type"] = "application/json"
    server_error.request = requests.Request("GET", f"{base}/api/v1/me").prepare()
    with pytest.raises(FailureGroup) as crashed:
        case.validate_response(server_error, checks=[not_a_server_error])
    assert any(type(e).__name__ == "ServerError" for e in crashed.value.exceptions), crashed.value.exceptions
