"""Login against the university's LDAP directory (simple bind, through ldap3).

The university's unified identity account (统一身份认证) lives in an LDAP directory (OpenLDAP,
Active Directory). A login is checked by binding as the person: either straight to a DN built
from the user name (``user_dn = "uid={username},ou=people,dc=example,dc=edu"``), or by first
searching the person's DN with a service account (``search_base`` + ``search_filter``). The
roster number is the user name, or an attribute of the person's entry (``number_attribute``).

ldap3 is blocking: every directory conversation runs in a worker thread, with connect and
receive timeouts, so a directory that hangs never stalls the event loop.

Outcomes (:class:`DirectoryError` codes):

* ``directory_wrong_password``: wrong password or unknown user (one answer, so that the login
  form does not tell strangers which accounts exist); an empty password is refused before any
  bind (an LDAP bind with an empty password is an anonymous bind and would "succeed").
* ``directory_locked``: the directory refused a correct-looking bind because the account is
  locked or disabled (the password-policy control's ``accountLocked``, Active Directory's
  ``data 775``/``533``).
* ``directory_unavailable``: the directory cannot be reached or does not answer in time.
* ``directory_misconfigured``: the service account cannot bind, a search matches several entries,
  the number attribute is missing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from dataclasses import dataclass

from server.config import LdapConfig
from shared.errors import CampusPassError

log = logging.getLogger(__name__)

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"
"""The LDAP password policy control (draft-behera-ldap-password-policy)."""
_INVALID_CREDENTIALS = 49


class DirectoryError(CampusPassError):
    """A directory login did not succeed; ``code`` says why (see the module docstring)."""

    code = "directory_wrong_password"


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A person the directory vouched for: the DN bound as and the roster number."""

    dn: str
    number: str


def ppolicy_error(value: bytes | None) -> int | None:
    """The ``error`` of a password-policy response control (BER ``SEQUENCE { warning [0]
    OPTIONAL, error [1] ENUMERATED OPTIONAL }``), or None: 0 passwordExpired, 1 accountLocked,
    2 changeAfterReset."""
    if not value or len(value) < 2 or value[0] != 0x30:
        return None
    i, end = 2, 2 + value[1]
    while i + 1 < min(end, len(value)):
        tag, length = value[i], value[i + 1]
        if tag == 0x81 and length == 1 and i + 2 < len(value):
            return value[i + 2]
        i += 2 + length
    return None


class LdapDirectory:
    """Checks logins against the directory ``[auth.ldap]`` names.

    Args:
        config: the LDAP settings.
    """

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self.timeout_s = max(1, math.ceil(config.timeout_s))  # ldap3 packs socket timeouts as whole seconds

    async def authenticate(self, username: str, password: str) -> DirectoryUser:
        """Bind as ``username`` with ``password`` (in a worker thread).

        Raises:
            DirectoryError: see the module docstring for the codes.
        """
        if not password:
            raise DirectoryError("wrong number or password")
        if not username or len(username) > 64 or any(c < " " or c == "\x7f" for c in username):
            raise DirectoryError("wrong number or password")
        return await asyncio.to_thread(self._authenticate, username, password)

    def _authenticate(self, username: str, password: str) -> DirectoryUser:
        import ldap3  # imported here: only deployments with a directory pay for it
        from ldap3.core import exceptions as lexc
        from ldap3.utils.conv import escape_filter_chars
        from ldap3.utils.dn import escape_rdn

        c = self.config
        # ldap3 checks no certificate unless told to: a directory password must not go to whoever
        # answers on the network, so the certificate is verified against the system's (or the
        # configured) CA certificates for ldaps:// and StartTLS alike.
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=c.ca_file or None)
        server = ldap3.Server(c.url, connect_timeout=self.timeout_s, get_info=ldap3.NONE, tls=tls)
        try:
            if c.search_base:
                dn = self._search_dn(server, escape_filter_chars(username))
            else:
                dn = c.user_dn.format(username=escape_rdn(username))
            conn = ldap3.Connection(server, user=dn, password=password, receive_timeout=self.timeout_s,
                                    raise_exceptions=False)
            conn.open()
            if c.start_tls:
                conn.start_tls()
            ok = conn.bind(controls=[(PPOLICY_OID, False, None)])
            result = conn.result or {}
            if not ok:
                conn.unbind()
                raise self._refusal(username, result)
            number = username
            if c.number_attribute:
                number = self._number_of(conn, dn)
            conn.unbind()
        except lexc.LDAPException as exc:
            log.warning("LDAP directory %s unavailable: %s", c.url, exc)
            raise DirectoryError("the university directory cannot be reached; try again in a few minutes",
                                 code="directory_unavailable") from None
        return DirectoryUser(dn, number)

    def _search_dn(self, server: object, escaped_username: str) -> str:
        import ldap3 as l3

        c = self.config
        conn = l3.Connection(server, user=c.bind_dn or None, password=c.bind_password or None,  # type: ignore[arg-type]
                             receive_timeout=self.timeout_s, raise_exceptions=False)
        conn.open()
        if c.start_tls:
            conn.start_tls()
        if not conn.bind():
            log.error("LDAP service account %s cannot bind: %s", c.bind_dn, conn.result)
            raise DirectoryError("the university directory refused the service account; tell the IT office",
                                 code="directory_misconfigured")
        conn.search(c.search_base, c.search_filter.format(username=escaped_username), search_scope=l3.SUBTREE,
                    attributes=[], size_limit=2)
        entries = list(conn.entries)
        conn.unbind()
        if not entries:
            raise DirectoryError("wrong number or password")
        if len(entries) > 1:
            log.error("LDAP search %s matched %d entries", c.search_filter, len(entries))
            raise DirectoryError("the university directory holds several accounts of this name; tell the IT office",
                                 code="directory_misconfigured")
        return str(entries[0].entry_dn)

    def _number_of(self, conn: object, dn: str) -> str:
        import ldap3 as l3

        attribute = self.config.number_attribute
        conn.search(dn, "(objectClass=*)", search_scope=l3.BASE, attributes=[attribute])  # type: ignore[attr-defined]
        entries = list(conn.entries)  # type: ignore[attr-defined]
        values = entries[0][attribute].values if entries and attribute in entries[0] else []
        if not values:
            raise DirectoryError(f"the directory entry has no {attribute}; tell the IT office",
                                 code="directory_misconfigured")
        return str(values[0]).strip()

    @staticmethod
    def _refusal(username: str, result: dict[str, object]) -> DirectoryError:
        controls = result.get("controls") or {}
        control = controls.get(PPOLICY_OID) if isinstance(controls, dict) else None
        error = ppolicy_error(control.get("value") if isinstance(control, dict) else None)
        message = str(result.get("message", ""))
        if error == 1 or any(f"data {code}" in message for code in ("775", "533", "701")):
            return DirectoryError("this university account is locked or disabled; ask the IT office to unlock it",
                                  code="directory_locked")
        if result.get("result") == _INVALID_CREDENTIALS:
            return DirectoryError("wrong number or password")
        log.warning("LDAP bind of %s refused: %s", username, result.get("description"))
        return DirectoryError("the university directory refused the login; try again or ask the IT office",
                              code="directory_locked")
