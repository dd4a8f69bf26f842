"""Server users: names with salted scrypt password hashes, kept in the catalog.

Each user is one catalog object of kind ``user`` keyed by name; the record holds
``{"name", "salt", "hash", "algorithm": "scrypt", "params", "created_at"}`` (hex strings).
Passwords never leave this module; ``fingerprint`` lets the token store notice that a user was
removed or re-created since a token was issued.

>>> store = UserStore(Catalog(tmp / "catalog.db"))       # doctest: +SKIP
>>> store.add("alice", "s3cret")                         # doctest: +SKIP
>>> store.verify("alice", "s3cret")                      # doctest: +SKIP
True
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from grammar.errors import AlreadyExists, NotFound, ValidationError
from raise_.engine.names import check_principal

KIND = "user"
ALGORITHM = "scrypt"
MAX_PASSWORD_CHARS = 1024


class ObjectStore(Protocol):
    """The generic catalog API users are stored through (``raise_.engine.catalog.Catalog``)."""

    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...
    def put(self, kind: str, key: str, record: dict[str, Any]) -> None: ...
    def list(self, kind: str) -> list[dict[str, Any]]: ...
    def delete(self, kind: str, key: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost: n=2**14, r=8 takes ~16 MiB and tens of milliseconds per check."""

    n: int = 2**14
    r: int = 8
    p: int = 1
    dklen: int = 32

    def derive(self, password: str, salt: bytes) -> bytes:
        return hashlib.scrypt(
            password.encode(), salt=salt, n=self.n, r=self.r, p=self.p, dklen=self.dklen,
            maxmem=2 * 128 * self.r * self.n + (1 << 20),
        )


class UserStore:
    """Add, verify, list and remove server users."""

    def __init__(self, catalog: ObjectStore, params: ScryptParams = ScryptParams()) -> None:
        self.catalog = catalog
        self.params = params
        # Verifying an unknown name still costs one derivation, so timing does not reveal names.
        self._decoy = params.derive("", b"\0" * 16)

    def __repr__(self) -> str:
        return f"UserStore({len(self.list())} users)"

    def add(self, name: str, password: str) -> None:
        """Store ``name`` with a fresh salt; AlreadyExists if the name is taken."""
        check_principal(name)
        _check_password(password)
        if self.catalog.get(KIND, name) is not None:
            raise AlreadyExists(f"user {name!r} already exists", name=name)
        salt = secrets.token_bytes(16)
        self.catalog.put(KIND, name, {
            "name": name,
            "salt": salt.hex(),
            "hash": self.params.derive(password, salt).hex(),
            "algorithm": ALGORITHM,
            "params": asdict(self.params),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })

    def verify(self, name: str, password: str) -> bool:
        """True when ``password`` is ``name``'s password."""
        record = self.catalog.get(KIND, name) if isinstance(name, str) else None
        if record is None or record.get("algorithm") != ALGORITHM or len(password) > MAX_PASSWORD_CHARS:
            hmac.compare_digest(self._decoy, self.params.derive(password[:MAX_PASSWORD_CHARS], b"\0" * 16))
            return False
        params = ScryptParams(**record["params"])
        derived = params.derive(password, bytes.fromhex(record["salt"]))
        return hmac.compare_digest(derived, bytes.fromhex(record["hash"]))

    def fingerprint(self, name: str) -> str | None:
        """Changes whenever the user is removed or re-created (None: no such user)."""
        record = self.catalog.get(KIND, name)
        return None if record is None else record["salt"]

    def generation(self) -> int | None:
        """The catalog's change counter (``Catalog.generation``): a user's fingerprint can only
        differ once it has moved; None where the store keeps none (check every time)."""
        generation = getattr(self.catalog, "generation", None)
        return generation() if generation is not None else None

    def list(self) -> list[dict[str, str]]:
        """Users as ``{"name", "created_at"}`` rows, by name."""
        return [{"name": r["name"], "created_at": r["created_at"]} for r in self.catalog.list(KIND)]

    def remove(self, name: str) -> None:
        """Delete ``name``; its tokens stop working on their next use."""
        if not self.catalog.delete(KIND, name):
            known = ", ".join(r["name"] for r in self.list()) or "none"
            raise NotFound(f"user {name!r} does not exist (users: {known})", name=name)


def _check_password(password: str) -> None:
    if not isinstance(password, str) or not password:
        raise ValidationError("the password is empty", code="RAISE-F010")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValidationError(
            f"the password is longer than {MAX_PASSWORD_CHARS} characters", code="RAISE-F011"
        )
