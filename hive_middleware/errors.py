"""The hive-middleware exception tree.

Every error the library raises derives from :class:`HiveError`. Errors are split
by who is at fault, so callers can tell "fix your call" from "retry later"::

    HiveError
    ├── HiveUsageError            the caller did something wrong; retrying will not help
    │   ├── HiveConfigError       a configuration key is unknown or has a bad value
    │   ├── HiveValidationError   a message, state or record failed validation
    │   ├── HiveDataError         an input file is missing, malformed or of the wrong kind
    │   ├── HiveNotFoundError     a key, handle or record does not exist
    │   ├── HiveTenantError       a tenant/namespace is malformed or crosses tenants
    │   └── HiveModelFileError    a model directory is tampered with or does not match
    └── HiveRuntimeError          something failed while doing the work
        ├── HiveStorageError      a storage back-end failed (SQLite, Chroma, ...)
        ├── HiveCorruptionError   stored data failed an integrity check
        ├── HiveDependencyError   an optional dependency (extra) is not installed
        ├── HiveRateLimited       a rate limit refused the call (``retry_after`` seconds)
        ├── HiveCircuitOpen       a circuit breaker is open for the model
        └── HiveModelError        the model provider failed (``status_code``, ``provider``)

Back-end exceptions are translated to these at the adapter boundary; the original
is always chained as ``__cause__``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "HiveCircuitOpen",
    "HiveConfigError",
    "HiveCorruptionError",
    "HiveDataError",
    "HiveDependencyError",
    "HiveError",
    "HiveModelError",
    "HiveModelFileError",
    "HiveNotFoundError",
    "HiveRateLimited",
    "HiveRuntimeError",
    "HiveStorageError",
    "HiveTenantError",
    "HiveUsageError",
    "HiveValidationError",
]


class HiveError(Exception):
    """Root of every error raised by hive-middleware.

    Args:
        message: What was wrong and how to fix it.
        **fields: Structured context (``key``, ``tenant``, ``path`` ...) kept as
            attributes so callers can branch on them without parsing text.
    """

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = dict(fields)
        for name, value in fields.items():
            setattr(self, name, value)


class HiveUsageError(HiveError):
    """The caller made a mistake (bad argument, bad input, bad config)."""


class HiveConfigError(HiveUsageError):
    """A configuration key is unknown or its value is invalid (``key`` names it)."""


class HiveValidationError(HiveUsageError):
    """A message, agent state or memory record is invalid (``index``/``field`` name where)."""


class HiveDataError(HiveUsageError):
    """An input data file is missing or malformed (``path`` and ``field`` name where)."""


class HiveNotFoundError(HiveUsageError):
    """A key, handle or record does not exist."""


class HiveTenantError(HiveUsageError):
    """A namespace or tenant is malformed, or an operation would cross tenants."""


class HiveModelFileError(HiveUsageError):
    """A router model directory is missing, tampered with or incompatible."""


class HiveRuntimeError(HiveError):
    """Something failed while doing the work; the call itself was valid."""


class HiveStorageError(HiveRuntimeError):
    """A storage back-end failed."""


class HiveCorruptionError(HiveRuntimeError):
    """Stored data (a snapshot, a model file) failed an integrity check."""


class HiveDependencyError(HiveRuntimeError):
    """An optional dependency is missing; the message names the extra to install."""


class HiveRateLimited(HiveRuntimeError):
    """A rate limit refused the call; ``retry_after`` says how many seconds to wait."""

    retry_after: float

    def __init__(self, message: str, *, retry_after: float, **fields: Any) -> None:
        super().__init__(message, retry_after=retry_after, **fields)


class HiveCircuitOpen(HiveRuntimeError):
    """The circuit breaker for a model is open; ``retry_after`` says when it may half-open."""

    retry_after: float

    def __init__(self, message: str, *, retry_after: float, **fields: Any) -> None:
        super().__init__(message, retry_after=retry_after, **fields)


class HiveModelError(HiveRuntimeError):
    """The model provider failed; ``status_code`` and ``provider`` say how and where."""

    status_code: int | None
    provider: str | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider: str | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message, status_code=status_code, provider=provider, **fields)
