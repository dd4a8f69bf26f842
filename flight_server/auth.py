"""Authentication: Basic credentials once (the Handshake), then expiring bearer tokens.

A client opens with a Handshake carrying ``authorization: Basic base64(user:password)``
(the Go ADBC driver sends it unpadded); the server answers with
``authorization: Bearer <token>`` and every later call must carry that header. Tokens expire
after ``idle_s`` without use and ``max_age_s`` after issue, and stop working when their user
is removed. A token's user is looked up in the catalog once per catalog generation (the
counter every committed change bumps, in any process), not on every call: removing or
re-creating the user takes effect on the token's next call. Each call gets a
``CallMiddleware`` that knows who is calling and writes the request's log line when the call
completes (at DEBUG for the per-request calls of an executed prepared statement, see
``CallMiddleware.quiet``).
"""
from __future__ import annotations

import base64
import binascii
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pyarrow.flight as flight

from flight_server.threads import keep_thread_state
from flight_server.users import UserStore
from grammar.errors import Unauthenticated

log = logging.getLogger("raise.flight")

MIDDLEWARE_KEY = "raise"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a call runs as: ``user`` None only when the server runs without authentication."""

    user: str | None
    token: str | None = None


@dataclass(slots=True)
class _Grant:
    user: str
    fingerprint: str
    issued: float
    used: float
    #: The catalog generation at which ``fingerprint`` was last found current (None: never).
    checked: int | None = None


def parse_basic(header: str) -> tuple[str, str]:
    """``"Basic dXNlcjpwdw"`` -> ``("user", "pw")``; padded or unpadded base64."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthenticated("expected 'authorization: Basic <base64 user:password>' on the handshake")
    encoded = encoded.strip()
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("the Basic credentials are not valid base64 of 'user:password'") from None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        raise Unauthenticated("the Basic credentials must be 'user:password'")
    return user, password


def bearer_token(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass
class TokenStore:
    """Bearer tokens in memory: issued at login, checked on every call, expiring."""

    users: UserStore
    idle_s: float = 3600.0
    max_age_s: float = 86400.0
    clock: Callable[[], float] = time.monotonic
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self, user: str, password: str) -> str:
        """A new token for ``user`` if ``password`` is right; Unauthenticated otherwise."""
        if not self.users.verify(user, password):
            raise Unauthenticated("invalid user name or password")
        now = self.clock()
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sweep(now)
            self._grants[token] = _Grant(user, self.users.fingerprint(user) or "", now, now)
        return token

    def check(self, token: str) -> str:
        """The user ``token`` belongs to; Unauthenticated when unknown, expired or revoked."""
        now = self.clock()
        with self._lock:
            grant = self._grants.get(token)
            if grant is not None and self._expired(grant, now):
                del self._grants[token]
                grant = None
        if grant is None:
            raise Unauthenticated("the bearer token is unknown or expired; authenticate again")
        generation = self.users.generation()
        if generation is None or grant.checked != generation:
            if self.users.fingerprint(grant.user) != grant.fingerprint:
                self.revoke(token)
                raise Unauthenticated(f"user {grant.user!r} no longer exists; authenticate again")
            grant.checked = generation
        grant.used = now
        return grant.user

    def revoke(self, token: str) -> None:
        with self._lock:
            self._grants.pop(token, None)

    def __len__(self) -> int:
        return len(self._grants)

    def _expired(self, grant: _Grant, now: float) -> bool:
        return now - grant.used > self.idle_s or now - grant.issued > self.max_age_s

    def _sweep(self, now: float) -> None:
        for token in [t for t, g in self._grants.items() if self._expired(g, now)]:
            del self._grants[token]


class CallMiddleware(flight.ServerMiddleware):
    """Per call: the caller's identity, the bearer header to send, and the log line."""

    def __init__(self, method: flight.FlightMethod, identity: Identity, send_token: str | None = None,
                 raise_headers: dict[str, str] | None = None):
        self.method = method
        self.identity = identity
        #: ``x-raise-*`` request headers (per-statement options such as the ingest mode).
        self.raise_headers = raise_headers or {}
        self.detail = ""
        #: Set by a handler for a per-request call of an executed prepared statement (binding
        #: its parameters, running it, fetching its result): logged at DEBUG when it succeeds,
        #: so a server answering online lookups writes no line per lookup at INFO.
        self.quiet = False
        self._send_token = send_token
        self._started = time.perf_counter()

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._send_token}"} if self._send_token else {}

    def call_completed(self, exception: BaseException | None) -> None:
        level = logging.DEBUG if self.quiet and exception is None else logging.INFO
        if not log.isEnabledFor(level):
            return
        status = "OK" if exception is None else type(exception).__name__
        ms = (time.perf_counter() - self._started) * 1000
        log.log(level, "%s %s user=%s status=%s %.1fms", _method_name(self.method), self.detail or "-",
                self.identity.user or "-", status, ms)


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Authenticates every call (or lets all through with ``require_auth=False``)."""

    def __init__(self, tokens: TokenStore | None, require_auth: bool = True) -> None:
        if require_auth and tokens is None:
            raise ValueError("authentication needs a token store")
        self.tokens = tokens
        self.require_auth = require_auth

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> CallMiddleware:
        keep_thread_state()  # the first Python code of every call (see flight_server.threads)
        extras = {k.lower(): v[0] for k, v in headers.items() if k.lower().startswith("x-raise-") and v}
        if not self.require_auth:
            return CallMiddleware(info.method, Identity(None), raise_headers=extras)
        header = _header(headers, "authorization")
        try:
            if info.method == flight.FlightMethod.HANDSHAKE:
                user, password = parse_basic(header)
                token = self.tokens.login(user, password)
                return CallMiddleware(info.method, Identity(user, token), send_token=token)
            token = bearer_token(header)
            if token is None:
                raise Unauthenticated("authenticate first: send 'authorization: Bearer <token>' "
                                      "from the handshake")
            return CallMiddleware(info.method, Identity(self.tokens.check(token), token), raise_headers=extras)
        except Unauthenticated as error:
            log.info("%s - user=- status=Unauthenticated (%s)", _method_name(info.method), error.message)
            raise flight.FlightUnauthenticatedError(str(error)) from None


class AcceptHandshake(flight.ServerAuthHandler):
    """Lets the Handshake RPC through; credentials are checked by ``AuthMiddlewareFactory``.

    pyarrow answers Handshake with UNIMPLEMENTED unless a server auth handler exists; the
    bearer token travels in headers (what ADBC and pyarrow's ``authenticate_basic_token``
    read), so this handler neither reads nor writes the handshake stream.
    """

    def authenticate(self, outgoing, incoming) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


def _header(headers: dict[str, list[str]], name: str) -> str:
    values = headers.get(name) or headers.get(name.title()) or []
    return values[0] if values else ""


def _method_name(method: flight.FlightMethod) -> str:
    return "".join(part.title() for part in method.name.split("_"))
