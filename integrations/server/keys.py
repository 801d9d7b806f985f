"""Per-tenant API keys and the audit log of the Hive HTTP service.

A key reads ``hk_<key id>_<secret>``; only the SHA-256 of the secret is stored
(SQLite file), so a stolen database holds no usable key. ``KeyStore.authenticate``
maps a bearer key to its :class:`Principal` and is what every transport reuses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveUsageError, HiveValidationError

__all__ = ["SCOPES", "AuditLog", "HiveAuthError", "KeyInfo", "KeyStore", "Principal"]

SCOPES = frozenset({"read", "write", "admin"})
_PREFIX = "hk_"


class HiveAuthError(HiveUsageError):
    """A missing, malformed, unknown, revoked or expired API key."""


@dataclass(frozen=True)
class Principal:
    """Who calls: the key's tenant, optional agent, scopes and key id."""

    tenant: str
    agent: str | None
    scopes: frozenset[str]
    key_id: str


@dataclass(frozen=True)
class KeyInfo:
    """A stored key without its secret."""

    key_id: str
    tenant: str
    agent: str | None
    scopes: frozenset[str]
    created_at: float
    expires_at: float | None
    revoked_at: float | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """API keys in a SQLite file; only hashes of the secrets are kept.

    Args:
        path: SQLite file (created with its parent directory).
        clock: Seconds since the epoch; injected by tests.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL,"
            " tenant TEXT NOT NULL, agent TEXT, scopes TEXT NOT NULL, created_at REAL NOT NULL,"
            " expires_at REAL, revoked_at REAL)"
        )

    def create(
        self,
        tenant: str,
        *,
        agent: str | None = None,
        scopes: Iterable[str] = ("read", "write"),
        expires_in_s: float | None = None,
    ) -> tuple[str, KeyInfo]:
        """Create a key; return the full key (shown once) and its stored record.

        Raises:
            HiveValidationError: Empty tenant, unknown scope or non-positive expiry.
        """
        scope_set = frozenset(s.strip() for s in scopes if s.strip())
        if not tenant.strip():
            raise HiveValidationError("tenant must be a non-empty string", field="tenant")
        if not scope_set or not scope_set <= SCOPES:
            raise HiveValidationError(
                f"scopes must be a non-empty subset of {sorted(SCOPES)}, got {sorted(scope_set)}",
                field="scopes",
            )
        if expires_in_s is not None and expires_in_s <= 0:
            raise HiveValidationError("expires_in must be positive", field="expires_in")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        info = KeyInfo(
            key_id, tenant, agent, scope_set, now, now + expires_in_s if expires_in_s else None, None
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?,NULL)",
                (key_id, _hash(secret), tenant, agent, ",".join(sorted(scope_set)), now, info.expires_at),
            )
        return f"{_PREFIX}{key_id}_{secret}", info

    def list(self, tenant: str | None = None) -> list[KeyInfo]:
        """Every key (of ``tenant`` when given), oldest first, without secrets."""
        sql = "SELECT key_id, tenant, agent, scopes, created_at, expires_at, revoked_at FROM api_keys"
        args: tuple[Any, ...] = ()
        if tenant is not None:
            sql, args = sql + " WHERE tenant = ?", (tenant,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at", args).fetchall()
        return [KeyInfo(r[0], r[1], r[2], frozenset(r[3].split(",")), r[4], r[5], r[6]) for r in rows]

    def revoke(self, key_id: str) -> None:
        """Revoke a key at once.

        Raises:
            HiveValidationError: No key has this id.
        """
        with self._lock:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (self._clock(), key_id),
            )
        if cur.rowcount == 0 and not any(k.key_id == key_id for k in self.list()):
            raise HiveValidationError(f"no API key with id {key_id!r}; see `hive keys list`", field="key_id")

    def authenticate(self, token: str) -> Principal:
        """Map a bearer key to its principal.

        Raises:
            HiveAuthError: Malformed, unknown, revoked or expired key.
        """
        if not token or not token.startswith(_PREFIX) or token.count("_") < 2:
            raise HiveAuthError("missing or malformed API key: send 'Authorization: Bearer hk_...'")
        key_id, _, secret = token[len(_PREFIX) :].partition("_")
        with self._lock:
            row = self._db.execute(
                "SELECT secret_hash, tenant, agent, scopes, expires_at, revoked_at FROM api_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[0], _hash(secret)):
            raise HiveAuthError("unknown API key: create one with `hive keys create`")
        if row[5] is not None:
            raise HiveAuthError(f"API key {key_id} was revoked", key_id=key_id)
        if row[4] is not None and self._clock() >= row[4]:
            raise HiveAuthError(f"API key {key_id} has expired; create a new one", key_id=key_id)
        return Principal(row[1], row[2], frozenset(row[3].split(",")), key_id)

    def close(self) -> None:
        """Close the SQLite connection."""
        self._db.close()


class AuditLog:
    """Append-only JSON lines (who, what, when, which ids), fsynced per entry.

    Args:
        path: The log file (created with its parent directory).
        clock: Seconds since the epoch; injected by tests.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()

    def record(self, principal: Principal, operation: str, ids: Iterable[str] = ()) -> None:
        """Append one entry and fsync it before returning."""
        line = json.dumps(
            {
                "when": self._clock(),
                "key_id": principal.key_id,
                "tenant": principal.tenant,
                "agent": principal.agent,
                "operation": operation,
                "ids": list(ids),
            },
            sort_keys=True,
        )
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]
