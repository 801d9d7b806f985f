"""Fuzz every operation of the Hive service's OpenAPI schema in process (ASGI) with schemathesis.

Cases are generated from ``/openapi.json`` as the app serves it, so routes added
later are covered without touching this file. Each request carries a valid key
of a tenant (read, write and admin scopes); three checks run on every answer:
no server error (5xx), the status code is one the schema documents, and the body
conforms to the schema of that status code. Each operation gets valid inputs
(positive mode) and invalid ones (negative mode: those must be refused with a
documented 4xx, never a 5xx).

The operations are driven with ``@given`` over ``operation.as_strategy()`` in one
test rather than ``schemathesis.pytest.from_fixture``: the lazy loader renames
pytest nodes through a private attribute that pytest 9 no longer has. Every
operation runs; the failures are reported together, each with its request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.keys import AuditLog, KeyStore
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from hive_middleware.config import HiveConfig
from hive_middleware.stack import HiveStack

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 100
"""Examples per operation and mode: enough to reach each route's edge cases in under a minute on two cores."""

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _fuzz(operation: Any, headers: dict[str, str], mode: Any) -> str | None:
    """Run ``MAX_EXAMPLES`` generated cases of one operation; the first failure, or ``None``."""

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            return None  # nothing in this operation can be made invalid (no parameters, free-form strings)
        raise
    except (Exception, FailureGroup) as exc:  # every operation runs; failures are reported together
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {type(exc).__name__}: {exc}"
    return None


def test_every_operation_conforms_to_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVE_MEMORY__EMBEDDER", "hashing")
    keys = KeyStore(tmp_path / "keys.sqlite")
    config = HiveConfig.load(data_dir=str(tmp_path / "data"))
    stacks: list[HiveStack] = []

    def open_stack() -> HiveStack:
        stack = HiveStack.from_config(config)
        stacks.append(stack)
        return stack

    app = create_app(open_stack, keys=keys, audit=AuditLog(tmp_path / "audit.jsonl"))
    key, _ = keys.create("fuzz", scopes=["read", "write", "admin"])
    headers = {"Authorization": f"Bearer {key}"}
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert any(op.path == "/v1/memories" and op.method.lower() == "post" for op in operations)
        failures = [
            failure
            for op in operations
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            if (failure := _fuzz(op, headers, mode)) is not None
        ]
    finally:
        for stack in stacks:
            stack.close()
        keys.close()
    assert not failures, f"{len(failures)} of {2 * len(operations)} operation runs failed:\n" + "\n\n".join(failures)
