from __future__ import annotations

import inspect

import hive_middleware.errors as errors
from hive_middleware.errors import (
    HiveCircuitOpen,
    HiveError,
    HiveModelError,
    HiveRateLimited,
    HiveRuntimeError,
    HiveUsageError,
)


def test_every_error_is_usage_or_runtime() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, HiveError)]
    assert len(classes) >= 10
    for cls in classes:
        if cls in (HiveError, HiveUsageError, HiveRuntimeError):
            continue
        assert issubclass(cls, HiveUsageError) != issubclass(cls, HiveRuntimeError), cls


def test_every_error_is_drawn_in_the_module_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} missing from the exception tree in errors.py's docstring"


def test_structured_fields() -> None:
    err = HiveModelError("boom", status_code=503, provider="openai")
    assert (err.status_code, err.provider, err.message) == (503, "openai", "boom")
    assert HiveRateLimited("slow down", retry_after=2.5, tenant="t").retry_after == 2.5
    assert HiveCircuitOpen("open", retry_after=1.0).fields["retry_after"] == 1.0
