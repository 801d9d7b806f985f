"""Sealing memory at rest: the key, the AES-GCM codec and blind keyword tokens.

One 32-byte secret, read from the environment variable that
``memory.encryption_key_env`` names (base64 or hex), gives two keys through
HKDF-SHA256, so neither use weakens the other:

* the **sealing key** (AES-256-GCM): :meth:`Sealer.seal` turns a text into
  ``hive-sealed:v1:<base64url(nonce | ciphertext | tag)>`` with a fresh random
  96-bit nonce. The associated data names what the text belongs to (for a record:
  its tenant and id), so a sealed value copied to another record or tenant does
  not open. The prefix carries the format version: plaintext and sealed values
  can sit side by side, and a later format can be told apart.
* the **blinding key** (HMAC-SHA256): :meth:`Sealer.blind` maps a normalised
  word of a tenant to a token of 20 decimal digits (the first 64 bits of the
  MAC). The same word always gives the same token within a tenant and another
  token in another tenant, so a keyword index of tokens ranks as one of words
  while holding none of them. Digits pass every tokenizer and stemmer unchanged.

What this hides and what it does not: a sealed value reveals its length (within
the JSON it wraps) and nothing else; blind tokens reveal which records share a
word and how often a word occurs in a tenant, not the word itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from hive_middleware.errors import (
    HiveConfigError,
    HiveCorruptionError,
    HiveDependencyError,
    HiveValidationError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "BLIND_TOKEN_DIGITS",
    "KEY_BYTES",
    "SEALED_PREFIX",
    "Sealer",
    "generate_key",
    "is_sealed",
    "load_key",
    "parse_key",
]

KEY_BYTES = 32
"""Length of the secret (AES-256)."""
SEALED_PREFIX = "hive-sealed:v1:"
"""How every sealed value starts (``v1``: AES-256-GCM, 96-bit nonce, JSON associated data)."""
BLIND_TOKEN_DIGITS = 20
"""Length of a blind token: 64 bits of HMAC-SHA256 in decimal."""

_NONCE_BYTES = 12
_BLIND_CACHE = 65_536
_TAG_BYTES = 16
_FORMAT = "hive-sealed:v1"
_ANY_VERSION = re.compile(r"hive-sealed:v(\d+):")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_KEY_FORMAT = (
    f"{KEY_BYTES} random bytes as base64 (44 characters) or hex (64 characters); make one with "
    "python -c \"import base64, os; print(base64.b64encode(os.urandom(32)).decode())\""
)


def generate_key() -> str:
    """A fresh random key, base64-encoded: a value for the variable ``memory.encryption_key_env`` names."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_key(text: str, *, source: str) -> bytes:
    """Decode a key written as hex (64 digits) or base64 (standard or URL-safe, padding optional).

    Args:
        text: The encoded key (surrounding whitespace is ignored).
        source: Where it came from (an environment variable name), for the error message.

    Returns:
        The 32-byte secret.

    Raises:
        HiveConfigError: ``text`` is neither encoding or does not hold exactly 32 bytes. The
            message names ``source`` and the expected format, never the value.
    """
    value = text.strip()
    if _HEX_KEY.fullmatch(value):
        return bytes.fromhex(value)
    normalised = value.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        secret = base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HiveConfigError(
            f"environment variable {source} is neither hex nor base64; it must hold {_KEY_FORMAT}",
            key="memory.encryption_key_env",
            variable=source,
        ) from exc
    if len(secret) != KEY_BYTES:
        raise HiveConfigError(
            f"environment variable {source} decodes to {len(secret)} bytes, not {KEY_BYTES}; it must hold "
            f"{_KEY_FORMAT}",
            key="memory.encryption_key_env",
            variable=source,
        )
    return secret


def load_key(name: str, environ: Mapping[str, str] | None = None) -> bytes:
    """Read and decode the key held by environment variable ``name``.

    Args:
        name: The variable (the value of ``memory.encryption_key_env``).
        environ: Environment to read (default ``os.environ``).

    Raises:
        HiveConfigError: the variable is unset or empty, or its value is not a valid key
            (see :func:`parse_key`).
    """
    value = (os.environ if environ is None else environ).get(name, "")
    if not value.strip():
        raise HiveConfigError(
            f"memory.encryption_key_env names the environment variable {name}, which is not set; set it to "
            f"{_KEY_FORMAT}. Memory is never stored unsealed while encryption is on",
            key="memory.encryption_key_env",
            variable=name,
        )
    return parse_key(value, source=name)


def is_sealed(value: object) -> bool:
    """Whether ``value`` is a sealed string of any format version."""
    return isinstance(value, str) and _ANY_VERSION.match(value) is not None


def _aead(key: bytes) -> AESGCM:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise HiveDependencyError(
            "memory.encryption_key_env needs the cryptography package; pip install 'cryptography>=42' "
            "(the [server] extra includes it)",
            package="cryptography",
        ) from exc
    return AESGCM(key)


def _derive(secret: bytes, purpose: bytes) -> bytes:
    # HKDF-SHA256 (RFC 5869) with a zero salt and one output block: extract, then expand.
    prk = hmac.new(b"\0" * 32, secret, hashlib.sha256).digest()
    return hmac.new(prk, purpose + b"\x01", hashlib.sha256).digest()


class Sealer:
    """Seals and opens texts with AES-256-GCM and blinds keyword terms with HMAC-SHA256.

    Args:
        secret: The 32-byte secret (see :func:`load_key`).
        source: Where the secret came from (an environment variable name), named in errors.

    Raises:
        HiveValidationError: ``secret`` is not 32 bytes.
        HiveDependencyError: the ``cryptography`` package is not installed.
    """

    def __init__(self, secret: bytes, *, source: str = "the sealing key") -> None:
        if not isinstance(secret, bytes) or len(secret) != KEY_BYTES:
            raise HiveValidationError(
                f"a sealing secret must be {KEY_BYTES} bytes, got "
                f"{len(secret) if isinstance(secret, bytes) else type(secret).__name__}",
                field="secret",
            )
        self.source = source
        self._aead = _aead(_derive(secret, b"hive-middleware memory sealing v1"))
        blinding_key = _derive(secret, b"hive-middleware keyword blinding v1")
        self._blinding = hmac.new(blinding_key, digestmod=hashlib.sha256)
        # Words repeat across records and queries; their tokens are kept (in memory only).
        self._tokens: dict[tuple[str, str], str] = {}

    @classmethod
    def from_env(cls, name: str, environ: Mapping[str, str] | None = None) -> Sealer:
        """A sealer over the key held by environment variable ``name`` (see :func:`load_key`)."""
        return cls(load_key(name, environ), source=name)

    @staticmethod
    def _associated(context: Sequence[str]) -> bytes:
        return json.dumps([_FORMAT, *context], ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def seal(self, plaintext: str, context: Sequence[str]) -> str:
        """Encrypt ``plaintext`` bound to ``context`` (e.g. ``("record", tenant, record_id)``).

        Returns:
            ``SEALED_PREFIX`` followed by base64url of nonce, ciphertext and tag.
        """
        nonce = os.urandom(_NONCE_BYTES)
        data = plaintext.encode("utf-8", "surrogatepass")
        sealed = self._aead.encrypt(nonce, data, self._associated(context))
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def unseal(self, sealed: str, context: Sequence[str]) -> str:
        """Decrypt a value :meth:`seal` made with the same key and ``context``.

        Raises:
            HiveCorruptionError: ``sealed`` is not a sealed value of a known format, or it does
                not open: sealed with another key, bound to another context (copied from
                another record or tenant) or altered. ``context`` is kept in the error's fields.
        """
        found = _ANY_VERSION.match(sealed) if isinstance(sealed, str) else None
        if found is None:
            raise HiveCorruptionError(
                f"{_describe(context)} is not a sealed value (no {SEALED_PREFIX!r} prefix)",
                context=tuple(context),
            )
        if not sealed.startswith(SEALED_PREFIX):
            raise HiveCorruptionError(
                f"{_describe(context)} was sealed in format v{found.group(1)}; this version of "
                "hive-middleware reads v1: upgrade it",
                context=tuple(context),
            )
        try:
            body = sealed[len(SEALED_PREFIX) :].encode("ascii")
            raw = base64.b64decode(body, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise HiveCorruptionError(
                f"{_describe(context)} is damaged (its sealed text is not base64)", context=tuple(context)
            ) from exc
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise HiveCorruptionError(f"{_describe(context)} is damaged (too short)", context=tuple(context))
        from cryptography.exceptions import InvalidTag

        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._associated(context))
        except InvalidTag as exc:
            raise HiveCorruptionError(
                f"{_describe(context)} does not open with the key in {self.source}: it was sealed with "
                "another key, copied from another record or tenant, or altered",
                context=tuple(context),
            ) from exc
        return plain.decode("utf-8", "surrogatepass")

    def blind(self, tenant: str, term: str) -> str:
        """The blind token of a normalised keyword ``term`` in ``tenant``: 20 decimal digits."""
        token = self._tokens.get((tenant, term))
        if token is None:
            mac = self._blinding.copy()
            mac.update(tenant.encode("utf-8", "surrogatepass"))
            mac.update(b"\0" + term.encode("utf-8", "surrogatepass"))
            token = f"{int.from_bytes(mac.digest()[:8], 'big'):0{BLIND_TOKEN_DIGITS}d}"
            if len(self._tokens) >= _BLIND_CACHE:
                self._tokens.clear()
            self._tokens[(tenant, term)] = token
        return token


def _describe(context: Sequence[str]) -> str:
    parts = list(context)
    if len(parts) >= 3 and parts[0] == "record":
        return f"record {parts[2]} of tenant {parts[1]!r}"
    if len(parts) >= 2:
        return f"the sealed {parts[0]} of tenant {parts[1]!r}"
    return "a sealed value"
