"""The sealing codec: key parsing, AES-GCM round trip, tamper detection, binding, blind tokens."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveConfigError, HiveCorruptionError, HiveUsageError, HiveValidationError
from hive_middleware.memory.keyword_terms import keyword_terms
from hive_middleware.memory.sealing import (
    BLIND_TOKEN_DIGITS,
    SEALED_PREFIX,
    Sealer,
    generate_key,
    is_sealed,
    load_key,
    parse_key,
)

SECRET = bytes(range(32))
SEALER = Sealer(SECRET, source="TEST_KEY")
names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


def _tampered(sealed: str, index: int, bit: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX) :]))
    raw[index % len(raw)] ^= 1 << bit
    return SEALED_PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode()


# -- keys ------------------------------------------------------------------------------------


@given(st.binary(min_size=32, max_size=32))
def test_a_key_reads_the_same_in_hex_and_every_base64_spelling(secret: bytes) -> None:
    standard = base64.b64encode(secret).decode()
    urlsafe = base64.urlsafe_b64encode(secret).decode()
    for text in (secret.hex(), secret.hex().upper(), standard, urlsafe, urlsafe.rstrip("="), f"  {standard}\n"):
        assert parse_key(text, source="K") == secret


def test_generated_keys_are_fresh_32_byte_base64() -> None:
    one, two = generate_key(), generate_key()
    assert one != two
    assert len(base64.b64decode(one)) == 32 and parse_key(one, source="K") == base64.b64decode(one)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (base64.b64encode(os.urandom(16)).decode(), "decodes to 16 bytes, not 32"),
        (base64.b64encode(os.urandom(48)).decode(), "decodes to 48 bytes, not 32"),
        ("not a key at all!", "neither hex nor base64"),
        ("ab" * 31, "decodes to"),  # 62 hex digits read as base64: the wrong length
    ],
)
def test_a_malformed_key_names_its_variable_and_the_format_never_the_value(value: str, says: str) -> None:
    with pytest.raises(HiveConfigError) as caught:
        load_key("SEALING_KEY_UNDER_TEST", {"SEALING_KEY_UNDER_TEST": value})
    message = str(caught.value)
    assert "SEALING_KEY_UNDER_TEST" in message and says in message
    assert "32 random bytes as base64 (44 characters) or hex (64 characters)" in message
    assert value not in message
    assert caught.value.fields["variable"] == "SEALING_KEY_UNDER_TEST"
    assert isinstance(caught.value, HiveUsageError)


@pytest.mark.parametrize("environ", [{}, {"SEALING_KEY_UNDER_TEST": "   "}])
def test_a_missing_key_is_refused_not_ignored(environ: dict[str, str]) -> None:
    with pytest.raises(HiveConfigError, match=r"SEALING_KEY_UNDER_TEST, which is not set.*never stored unsealed"):
        Sealer.from_env("SEALING_KEY_UNDER_TEST", environ)


def test_a_sealer_needs_exactly_32_bytes() -> None:
    with pytest.raises(HiveValidationError, match="must be 32 bytes, got 31"):
        Sealer(b"x" * 31)


# -- seal / unseal ---------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.text(), names, names)
def test_seal_then_unseal_gives_the_text_back(text: str, tenant: str, record_id: str) -> None:
    context = ("record", tenant, record_id)
    sealed = SEALER.seal(text, context)
    assert sealed.startswith(SEALED_PREFIX) and is_sealed(sealed)
    assert SEALER.unseal(sealed, context) == text


def test_sealing_twice_gives_two_ciphertexts_without_the_plaintext() -> None:
    context = ("record", "acme", "r1")
    one, two = SEALER.seal("deploy key is hunter2", context), SEALER.seal("deploy key is hunter2", context)
    assert one != two
    assert "hunter2" not in one and b"hunter2" not in base64.urlsafe_b64decode(one[len(SEALED_PREFIX) :])


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_is_detected(index: int, bit: int) -> None:
    context = ("record", "acme", "r1")
    sealed = SEALER.seal("the vault opens with 4711", context)
    with pytest.raises(HiveCorruptionError, match="does not open with the key in TEST_KEY"):
        SEALER.unseal(_tampered(sealed, index, bit), context)


@pytest.mark.parametrize(
    "elsewhere",
    [("record", "globex", "r1"), ("record", "acme", "r2"), ("reason", "acme"), ("record", "acme", "r1", "x")],
)
def test_a_sealed_value_opens_only_where_it_was_sealed(elsewhere: tuple[str, ...]) -> None:
    sealed = SEALER.seal("acme's payroll runs on the 25th", ("record", "acme", "r1"))
    with pytest.raises(HiveCorruptionError, match="copied from another record or tenant") as caught:
        SEALER.unseal(sealed, elsewhere)
    assert caught.value.fields["context"] == elsewhere


def test_another_key_does_not_open_it() -> None:
    sealed = SEALER.seal("text", ("record", "acme", "r1"))
    other = Sealer(os.urandom(32), source="OTHER_KEY")
    with pytest.raises(HiveCorruptionError, match="record r1 of tenant 'acme' does not open with the key in OTHER_KEY"):
        other.unseal(sealed, ("record", "acme", "r1"))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("plain text", "is not a sealed value"),
        ("hive-sealed:v2:AAAA", "format v2; this version of hive-middleware reads v1: upgrade it"),
        (SEALED_PREFIX + "***", "damaged (its sealed text is not base64)"),
        (SEALED_PREFIX + "AAAA", "damaged (too short)"),
    ],
)
def test_what_is_not_a_sealed_value_of_this_format_says_so(value: str, says: str) -> None:
    with pytest.raises(HiveCorruptionError, match=says.replace("(", r"\(").replace(")", r"\)")):
        SEALER.unseal(value, ("record", "acme", "r1"))


# -- blind tokens ----------------------------------------------------------------------------


@given(names, st.text(min_size=1, max_size=30))
def test_blind_tokens_are_keyed_digits_per_tenant(tenant: str, term: str) -> None:
    token = SEALER.blind(tenant, term)
    assert token == SEALER.blind(tenant, term)
    assert len(token) == BLIND_TOKEN_DIGITS and token.isdigit()
    assert token != SEALER.blind(tenant + "x", term)
    assert token != Sealer(bytes(32)).blind(tenant, term)


@given(names, names)
def test_blind_tokens_pass_the_keyword_tokenizer_unchanged(tenant: str, term: str) -> None:
    token = SEALER.blind(tenant, term)
    assert keyword_terms(token) == [token]
