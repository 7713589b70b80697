"""Campus accounts: login, first-login setup (new password, phone verified by SMS code),
password change and admin reset, first admin creation (docs/architecture.md §2.1, §10).

The initial password is the last six characters of the national ID from the roster; only its
Argon2id hash is kept. An ID ending in X accepts x too (the last character is upper-cased
while the account is in the ``initial`` state).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from server.config import ServerConfig
from server.duties import require_web_reset
from server.errors import Category, Conflict, DomainError, Forbidden, InvalidField, NotFound, TooManyRequests
from server.ldap_login import DirectoryError, LdapDirectory
from server.passwords import PasswordHasher
from server.storage import Database
from server.storage.audit import AuditLog
from server.storage.people import NewPerson, People, Person, Role
from server.storage.sessions import Sessions
from server.storage.sms import PhoneCode, SmsOutboxStore
from server.storage.throttle import LoginCode, LoginThrottleStore
from server.throttle import LoginThrottle
from shared.clock import Clock, to_unix
from shared.errors import CampusPassError

MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 128
CODE_TTL_S = 5 * 60
CODE_TRIES = 5
RESEND_WAIT_S = 60
SENDS_PER_HOUR = 5
_PHONE = re.compile(r"^1[3-9]\d{9}$")


class LoginFailed(DomainError):
    """Wrong number or password (the same answer for an unknown number). Code ``bad_credentials``,
    category unauthenticated."""

    code = "bad_credentials"
    category = Category.UNAUTHENTICATED


class NotOnRoster(Forbidden):
    """The university's login vouched for someone who is not on the campuspass roster.
    Code ``not_on_roster``, category forbidden."""

    code = "not_on_roster"


DIRECTORY_CATEGORY = {"directory_locked": Category.FORBIDDEN, "directory_unavailable": Category.UNAVAILABLE,
                      "directory_misconfigured": Category.UNAVAILABLE, "cas_ticket_refused": Category.UNAUTHENTICATED,
                      "cas_unavailable": Category.UNAVAILABLE, "cas_misconfigured": Category.UNAVAILABLE}
"""Category of each refusal of the university's login (server.ldap_login, server.cas_login)."""


def directory_refusal(exc: CampusPassError) -> DomainError:
    """The domain error for a refusal of the university's login (its code and message kept):
    a wrong password is :class:`LoginFailed`; locked 403, unreachable or misconfigured 503."""
    if exc.code == "directory_wrong_password":
        return LoginFailed("wrong number or password")
    return DomainError(exc.message, code=exc.code, category=DIRECTORY_CATEGORY.get(exc.code, Category.UNAVAILABLE))


def normalise_initial(password: str) -> str:
    """The initial-password form of what was typed: trimmed, a final x upper-cased (IDs end in X)."""
    p = password.strip()
    return p[:-1] + "X" if p.endswith("x") else p


def normalise_phone(phone: str) -> str:
    """A mainland mobile number as 11 digits (spaces, dashes and a +86/86 prefix removed).

    Raises:
        InvalidField: code ``bad_phone`` when it is not ``1[3-9]`` followed by 9 digits.
    """
    digits = re.sub(r"[\s\-()]", "", phone)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _PHONE.match(digits):
        raise InvalidField(f"phone {phone!r} is not a mainland mobile number (11 digits starting 13-19)",
                           code="bad_phone")
    return digits


def _code_hash(person_id: int, phone: str, code: str) -> bytes:
    return hashlib.sha256(f"{person_id}:{phone}:{code}".encode()).digest()


@dataclass(frozen=True, slots=True)
class CodeSent:
    """A phone code was queued: it expires in ``expires_in_s``; another may be sent in ``resend_in_s``."""

    phone: str
    expires_in_s: int
    resend_in_s: int


class Accounts:
    """Account operations on the people table.

    Args:
        db: the database.
        clock: current time.
        hasher: Argon2id hashing (off the event loop).
        config: server configuration (``[auth]``, ``[sms]``).
        sms_wake: called after a transaction that enqueued an SMS commits.
        directory: the university's LDAP directory (default: from ``[auth.ldap]``, None when
            not enabled).
    """

    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher, config: ServerConfig,
                 sms_wake: Callable[[], None] = lambda: None, directory: LdapDirectory | None = None) -> None:
        self.db = db
        self.clock = clock
        self.hasher = hasher
        self.config = config
        self.sms_wake = sms_wake
        self.people = People(db)
        self.throttle = LoginThrottle(LoginThrottleStore(db), config.auth)
        self._dummy_hash: str | None = None
        self.directory = directory if directory is not None else (
            LdapDirectory(config.auth.ldap) if config.auth.ldap.enabled else None)

    def _now_s(self) -> int:
        return to_unix(self.clock.now())

    async def login(self, number: str, password: str, address: str, sms_code: str | None = None) -> Person:
        """Check a campus login: the university's directory first (``[auth.ldap]``), then the
        built-in password (``[auth] password_login``; always for system admins).

        The attempt is counted by the throttle before the password hash runs (see
        :mod:`server.throttle`); a valid one-time ``sms_code`` (:meth:`send_login_code`) lets it
        past a throttle that someone else's failures set.

        Raises:
            InvalidField: username or password too long.
            DomainError: ``wrong_code`` (403, with ``tries_left``) or ``code_expired`` (410) for a bad
                ``sms_code``.
            TooManyRequests: throttled (``login_slowed`` / ``login_blocked``); no hash was run.
            LoginFailed: wrong number or password (already counted for the account and the address).
            NotOnRoster: the directory knows the person, the roster does not.
            DomainError: ``directory_locked`` (forbidden), ``directory_unavailable`` (unavailable)
                when the directory is down and the built-in login cannot stand in.
        """
        number = number.strip()
        if len(number) > 64 or len(password) > MAX_PASSWORD_LEN:
            raise InvalidField(f"username or password too long; at most 64 and {MAX_PASSWORD_LEN} characters")
        person = await self.people.by_number(number) if number else None
        now_s = self._now_s()
        with_code = False
        if sms_code is not None and sms_code.strip():
            await self._check_login_code(person, sms_code.strip(), now_s)
            with_code = True
        await self.throttle.reserve(number, address, now_s, bypass=with_code)
        directory_down: DomainError | None = None
        if self.directory is not None:
            try:
                user = await self.directory.authenticate(number, password)
            except DirectoryError as exc:
                refusal = directory_refusal(exc)
                if exc.code == "directory_locked":
                    raise refusal from None
                if refusal.category is Category.UNAVAILABLE:
                    directory_down = refusal
            else:
                known = await self.people.by_number(user.number)
                if known is None or known.role != "system_admin":  # admins use their own password
                    vouched = await self.directory_person(user.number)
                    await self.throttle.succeeded(number, address)
                    return vouched
        if person is not None and not self._password_login_allowed(person):
            person = None  # the built-in login is off for this account: only the directory opens it
        if person is None:
            # Spend the same time as a real check so unknown numbers are not revealed by timing.
            if self._dummy_hash is None:
                self._dummy_hash = await self.hasher.hash(secrets.token_hex(8))
            await self.hasher.verify(password, self._dummy_hash)
            ok = False
        else:
            typed = normalise_initial(password) if person.must_change_password else password
            ok = await self.hasher.verify(typed, person.password_hash)
        if not ok or person is None:
            if directory_down is not None:
                raise directory_down
            raise LoginFailed("wrong number or password")
        await self.throttle.succeeded(number, address)
        if not person.must_change_password and self.hasher.needs_rehash(person.password_hash):
            new_hash = await self.hasher.hash(password)  # parameters were raised since this hash
            async with self.db.transaction() as conn:
                await People.rehash_password(conn, person.id, person.password_hash, new_hash)
        return person

    async def _check_login_code(self, person: Person | None, code: str, now_s: int) -> None:
        """Accept a one-time login code (used up by this call) or raise."""
        store = self.throttle.store
        pending = await store.login_code(person.id) if person is not None else None
        if person is None or pending is None or pending.tries_left <= 0 or pending.expires_at_s == 0:
            raise Forbidden("no valid login code for this account; ask for a new one", code="wrong_code",
                            detail={"tries_left": 0})
        if now_s >= pending.expires_at_s:
            raise DomainError("the login code has expired; ask for a new one", code="code_expired",
                              category=Category.GONE)
        if not hmac.compare_digest(_code_hash(person.id, "login", code), pending.code_hash):
            await store.use_login_code(person.id, consume=False)
            left = pending.tries_left - 1
            raise Forbidden(f"wrong login code; {left} tries left", code="wrong_code", detail={"tries_left": left})
        await store.use_login_code(person.id, consume=True)

    async def send_login_code(self, number: str, address: str) -> CodeSent:
        """Send a one-time login code by SMS to the verified phone of a throttled account.

        The answer is the same whether or not the number exists, has a verified phone, or is
        throttled (nothing is revealed to a stranger); a code is sent only when password-only
        logins to the account from ``address`` are refused now, the account has a verified phone
        and the send limits allow (one a minute, five an hour). The code expires in 5 minutes,
        allows 5 tries and is good for one login.
        """
        number = number.strip()
        now_s = self._now_s()
        answer = CodeSent("", CODE_TTL_S, RESEND_WAIT_S)
        person = await self.people.by_number(number) if number and len(number) <= 64 else None
        if person is None or not person.phone or not person.phone_verified:
            return answer
        if not await self.throttle.is_throttled(number, address, now_s):
            return answer
        store = self.throttle.store
        prev = await store.login_code(person.id)
        window_start, sends = now_s, 0
        if prev is not None:
            if now_s - prev.sent_at_s < RESEND_WAIT_S:
                return answer
            if now_s - prev.window_start_at_s < 3600:
                window_start, sends = prev.window_start_at_s, prev.sends_in_window
                if sends >= SENDS_PER_HOUR:
                    return answer
        code = f"{secrets.randbelow(10**6):06d}"
        row = LoginCode(_code_hash(person.id, "login", code), now_s, now_s + CODE_TTL_S, CODE_TRIES, sends + 1,
                        window_start)
        body = (f"{self.config.sms.sender_name}您的登录验证码是 {code}，{CODE_TTL_S // 60} 分钟内有效。"
                "您的账号有多次错误登录，如非本人操作请勿将验证码告诉任何人。")
        async with self.db.transaction() as conn:
            await LoginThrottleStore.put_login_code(conn, person.id, row)
            await SmsOutboxStore.enqueue(conn, message_id=f"login-code:{person.id}:{now_s}:{secrets.token_hex(4)}",
                                         phone=person.phone, body=body, purpose="login_code", now_s=now_s,
                                         person_id=person.id,
                                         params={"code": code, "minutes": str(CODE_TTL_S // 60)})
        self.sms_wake()
        return answer

    def _password_login_allowed(self, person: Person) -> bool:
        if person.role == "system_admin":
            return True  # made on the command line, not in the university's directory
        if not self.config.auth.password_login:
            return False
        # The roster's initial password no longer opens an account that signs in through the
        # university's login (its owner never needed to change it).
        return not (person.directory_login and person.password_state == "initial")

    async def directory_person(self, number: str) -> Person:
        """The roster person the university's login (LDAP or CAS) vouched for, marked as
        signing in that way (no password of their own needed; phone binding still is).

        Raises:
            NotOnRoster: no such number on the roster (or a system admin's, which only the
                command line manages).
        """
        person = await self.people.by_number(number.strip())
        if person is None or person.role == "system_admin":
            raise NotOnRoster(f"the university account {number!r} is not on the campuspass roster; "
                              f"ask your department to add you")
        if not person.directory_login:
            async with self.db.transaction() as conn:
                await People.mark_directory_login(conn, person.id, self._now_s())
            person = await self._reload(person.id)
        return person

    async def check_new_password(self, person: Person, new_password: str) -> None:
        """The password policy: 8-128 characters, not the number, not the initial password.

        Raises:
            InvalidField: code ``weak_password`` naming the rule broken.
        """
        if not (MIN_PASSWORD_LEN <= len(new_password) <= MAX_PASSWORD_LEN):
            raise InvalidField(f"the new password has {len(new_password)} characters; "
                               f"expected {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN}", code="weak_password")
        if new_password.strip().lower() == person.number.lower():
            raise InvalidField("the new password must not be your number", code="weak_password")
        if await self.hasher.verify(normalise_initial(new_password), person.initial_hash):
            raise InvalidField("the new password must not be the initial password", code="weak_password")

    async def change_password(self, person: Person, old_password: str, new_password: str,
                              *, keep_session: str | None = None) -> Person:
        """Set a new own password after checking the old one; ends the person's other sessions.

        Raises:
            LoginFailed: ``old_password`` is wrong (code ``bad_credentials``, status 401 → 403 here).
            InvalidField: the new password breaks the policy.
        """
        typed = normalise_initial(old_password) if person.must_change_password else old_password
        if not await self.hasher.verify(typed, person.password_hash):
            raise Forbidden("the current password is wrong", code="wrong_password")
        await self.check_new_password(person, new_password)
        new_hash = await self.hasher.hash(new_password)
        async with self.db.transaction() as conn:
            await People.set_password(conn, person.id, new_hash, self._now_s())
        await Sessions(self.db).delete_for_person(person.id, except_token=keep_session)
        return await self._reload(person.id)

    async def send_phone_code(self, person: Person, phone: str) -> CodeSent:
        """Queue a 6-digit code by SMS to ``phone`` for binding (expires in 5 minutes).

        Raises:
            InvalidField: bad phone number.
            TooManyRequests: ``code_resend_wait`` (60 s between codes) or ``code_send_limit``
                (5 codes an hour).
        """
        phone = normalise_phone(phone)
        now_s = self._now_s()
        store = SmsOutboxStore(self.db)
        prev = await store.phone_code(person.id)
        window_start, sends = now_s, 0
        if prev is not None:
            if now_s - prev.sent_at_s < RESEND_WAIT_S:
                wait = RESEND_WAIT_S - (now_s - prev.sent_at_s)
                raise TooManyRequests(f"a code was sent {now_s - prev.sent_at_s} s ago; wait {wait} s",
                                      retry_after_s=wait, code="code_resend_wait")
            if now_s - prev.window_start_at_s < 3600:
                window_start, sends = prev.window_start_at_s, prev.sends_in_window
                if sends >= SENDS_PER_HOUR:
                    wait = 3600 - (now_s - window_start)
                    raise TooManyRequests(f"{sends} codes sent in the last hour; wait {wait // 60 + 1} min",
                                          retry_after_s=wait, code="code_send_limit")
        code = f"{secrets.randbelow(10**6):06d}"
        row = PhoneCode(phone, _code_hash(person.id, phone, code), now_s, now_s + CODE_TTL_S, CODE_TRIES,
                        sends + 1, window_start)
        body = (f"{self.config.sms.sender_name}您的验证码是 {code}，{CODE_TTL_S // 60} 分钟内有效，"
                "用于绑定手机号。如非本人操作请忽略。")
        async with self.db.transaction() as conn:
            await SmsOutboxStore.put_phone_code(conn, person.id, row)
            await SmsOutboxStore.enqueue(conn, message_id=f"phone-code:{person.id}:{now_s}:{secrets.token_hex(4)}",
                                         phone=phone, body=body, purpose="phone_code", now_s=now_s,
                                         person_id=person.id,
                                         params={"code": code, "minutes": str(CODE_TTL_S // 60)})
        self.sms_wake()
        return CodeSent(phone, CODE_TTL_S, RESEND_WAIT_S)

    async def verify_phone(self, person: Person, phone: str, code: str) -> Person:
        """Bind ``phone`` when ``code`` is the one sent to it.

        Raises:
            InvalidField: bad phone.
            DomainError: ``no_code`` (404: none sent to this number), ``code_expired`` (410),
                ``code_exhausted`` (429: 5 wrong tries, ask for a new code), ``wrong_code`` (403,
                with ``tries_left``).
        """
        phone = normalise_phone(phone)
        now_s = self._now_s()
        store = SmsOutboxStore(self.db)
        pending = await store.phone_code(person.id)
        if pending is None or pending.phone != phone:
            raise NotFound(f"no code was sent to {phone}; ask for one first", code="no_code")
        if pending.tries_left <= 0:
            raise DomainError("too many wrong codes; ask for a new code", code="code_exhausted",
                              category=Category.THROTTLED)
        if now_s >= pending.expires_at_s:
            raise DomainError("the code has expired; ask for a new code", code="code_expired", category=Category.GONE)
        if not hmac.compare_digest(_code_hash(person.id, phone, code.strip()), pending.code_hash):
            await store.use_phone_try(person.id)
            left = pending.tries_left - 1
            raise Forbidden(f"wrong code; {left} tries left", code="wrong_code", detail={"tries_left": left})
        async with self.db.transaction() as conn:
            await SmsOutboxStore.consume_phone_code(conn, person.id)
            await People.set_verified_phone(conn, person.id, phone, now_s)
        return await self._reload(person.id)

    async def reset_password(self, admin: Person, target: Person, address: str = "") -> None:
        """Admin reset through the web: back to the initial password (must be changed at next
        login); ends the target's sessions, clears its login throttle and writes an audit entry.

        Raises:
            Forbidden: ``forbidden`` unless ``admin`` is a school admin; ``command_line_only`` when
                ``target`` is an admin (separation of duties: :func:`server.duties.require_web_reset`).
        """
        require_web_reset(admin.role, target.role)
        await self.reset_password_by(actor_number=admin.number, actor_id=admin.id, target=target, address=address)

    async def reset_password_by(self, *, actor_number: str, target: Person, actor_id: int | None = None,
                                address: str = "") -> None:
        """:meth:`reset_password` by any actor (``cli`` from the shell)."""
        now_s = self._now_s()
        async with self.db.transaction() as conn:
            await People.reset_to_initial(conn, target.id, now_s)
            await AuditLog.add(conn, at_s=now_s, actor_id=actor_id, actor_number=actor_number,
                               action="password_reset", target_person_id=target.id,
                               detail={"number": target.number}, address=address)
        await Sessions(self.db).delete_for_person(target.id)
        await self.throttle.reset(target.number)

    async def create_admin(self, number: str, name: str = "", role: Role = "system_admin",
                           *, actor: str = "cli") -> tuple[Person, str]:
        """Create an admin account with a random one-time password (to be shown once).

        Returns:
            The person and the one-time password (must be changed at first login).

        Raises:
            Conflict: code ``exists`` when the number is taken.
        """
        number = number.strip()
        if not number or len(number) > 64 or any(c.isspace() for c in number):
            raise InvalidField(f"username {number!r} must be 1-64 characters without spaces")
        if await self.people.by_number(number) is not None:
            raise Conflict(f"account {number} already exists", code="exists")
        one_time = "-".join(secrets.token_hex(2) for _ in range(3)) + secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
        phc = await self.hasher.hash(normalise_initial(one_time))
        now_s = self._now_s()
        async with self.db.transaction() as conn:
            await People.upsert(conn, NewPerson(number, name or number, role, None, None, None, phc,
                                                secrets.token_bytes(8)), now_s)
            await AuditLog.add(conn, at_s=now_s, actor_id=None, actor_number=actor, action="admin_created",
                               detail={"number": number, "role": role})
        return await self._reload_number(number), one_time

    async def _reload(self, person_id: int) -> Person:
        person = await self.people.by_id(person_id)
        if person is None:
            raise NotFound(f"person {person_id} no longer exists")
        return person

    async def _reload_number(self, number: str) -> Person:
        person = await self.people.by_number(number)
        if person is None:
            raise NotFound(f"person {number} does not exist")
        return person
