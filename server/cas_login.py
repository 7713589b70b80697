"""Single sign-on through the university's CAS server (CAS protocol 3.0, through httpx).

The browser is sent to ``{server_url}/login?service=<our callback>``; after the person signs in
there, CAS sends the browser back to the callback with ``ticket=ST-...``. The server then checks
the ticket itself, server to server, at ``{server_url}/p3/serviceValidate`` and reads the user
and its released attributes from the XML answer (namespace ``http://www.yale.edu/tp/cas``). The
roster number is the CAS user or, with ``number_attribute``, one of the attributes.

Outcomes (:class:`CasError` codes): ``cas_ticket_refused`` (the answer is an
``authenticationFailure``: INVALID_TICKET, INVALID_SERVICE, ...; sign in again),
``cas_unavailable`` (no answer or not a CAS answer), ``cas_misconfigured`` (the attribute holding
the number is not released to this service).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

from server.config import CasConfig
from shared.errors import CampusPassError

log = logging.getLogger(__name__)

CAS_NS = "{http://www.yale.edu/tp/cas}"
MAX_ANSWER_BYTES = 256 * 1024


class CasError(CampusPassError):
    """A CAS login did not succeed; ``code`` says why (see the module docstring)."""

    code = "cas_ticket_refused"


@dataclass(frozen=True, slots=True)
class CasUser:
    """The validated CAS user, its released attributes and the roster number taken from them."""

    user: str
    number: str
    attributes: dict[str, list[str]] = field(default_factory=dict)


def parse_service_response(xml: bytes, number_attribute: str = "") -> CasUser:
    """Read a ``/p3/serviceValidate`` answer (CAS protocol 3.0, section 2.5 and appendix A).

    Raises:
        CasError: ``cas_ticket_refused`` for an authenticationFailure, ``cas_unavailable`` for
            anything that is not a CAS answer, ``cas_misconfigured`` when ``number_attribute``
            is not among the released attributes.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise CasError(f"the sign-in service answered with something that is not CAS XML ({exc})",
                       code="cas_unavailable") from None
    if root.tag != f"{CAS_NS}serviceResponse":
        raise CasError(f"the sign-in service answered <{root.tag}>, not a CAS serviceResponse", code="cas_unavailable")
    failure = root.find(f"{CAS_NS}authenticationFailure")
    if failure is not None:
        code = failure.get("code", "UNKNOWN")
        raise CasError(f"the university sign-in refused the ticket ({code}: {(failure.text or '').strip()[:200]}); "
                       f"please sign in again")
    success = root.find(f"{CAS_NS}authenticationSuccess")
    user_el = success.find(f"{CAS_NS}user") if success is not None else None
    user = (user_el.text or "").strip() if user_el is not None else ""
    if not user:
        raise CasError("the sign-in service's answer names no user", code="cas_unavailable")
    attributes: dict[str, list[str]] = {}
    attrs_el = success.find(f"{CAS_NS}attributes") if success is not None else None
    for el in attrs_el if attrs_el is not None else []:
        name = el.tag.removeprefix(CAS_NS)
        attributes.setdefault(name, []).append((el.text or "").strip())
    number = user
    if number_attribute:
        values = [v for v in attributes.get(number_attribute, []) if v]
        if not values:
            raise CasError(f"the sign-in service does not release the attribute {number_attribute!r} to campuspass; "
                           f"tell the IT office", code="cas_misconfigured")
        number = values[0]
    return CasUser(user, number, attributes)


class CasClient:
    """Talks to the CAS server ``[auth.cas]`` names.

    Args:
        config: the CAS settings.
        transport: an httpx transport (None: the network).
    """

    def __init__(self, config: CasConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._client = httpx.AsyncClient(timeout=config.timeout_s, transport=transport)

    def service_url(self, next_path: str = "/") -> str:
        """Our callback as CAS must see it (the same string at login and at validation)."""
        base = self.config.service_url
        return base if next_path in ("", "/") else f"{base}?{urlencode({'next': next_path})}"

    def login_url(self, service: str) -> str:
        """Where to send the browser to sign in."""
        return f"{self.config.server_url.rstrip('/')}/login?{urlencode({'service': service})}"

    def logout_url(self) -> str:
        """CAS single logout, for the logout page."""
        return f"{self.config.server_url.rstrip('/')}/logout"

    async def validate(self, ticket: str, service: str) -> CasUser:
        """Check a service ticket.

        Raises:
            CasError: see :func:`parse_service_response`; ``cas_unavailable`` when the server
                cannot be reached or answers with an HTTP error.
        """
        if not ticket.startswith("ST-") or len(ticket) > 256:
            raise CasError("the sign-in ticket is not a CAS service ticket; please sign in again")
        url = f"{self.config.server_url.rstrip('/')}/p3/serviceValidate"
        try:
            resp = await self._client.get(url, params={"service": service, "ticket": ticket})
        except httpx.HTTPError as exc:
            log.warning("CAS server %s unavailable: %s", url, exc)
            raise CasError("the university sign-in service cannot be reached; try again in a few minutes",
                           code="cas_unavailable") from None
        if resp.status_code != 200 or len(resp.content) > MAX_ANSWER_BYTES:
            log.warning("CAS server %s answered HTTP %d", url, resp.status_code)
            raise CasError(f"the university sign-in service answered HTTP {resp.status_code}; try again later",
                           code="cas_unavailable")
        return parse_service_response(resp.content, self.config.number_attribute)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
