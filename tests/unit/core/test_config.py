from __future__ import annotations

from pathlib import Path

import pytest

from hive_middleware.config import HiveConfig, MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveUsageError


def test_defaults_when_nothing_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = HiveConfig.load(environ={})
    assert cfg.data_dir == ".hive"
    assert cfg.memory == MemoryConfig()
    assert cfg.memory.rrf_k == MemoryConfig.model_fields["rrf_k"].default


def test_precedence_kwargs_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "hive.toml"
    toml.write_text('tenant = "from-file"\nmodel = "file-model"\n[memory]\nrrf_k = 10\noutbox_batch = 7\n')
    env = {"HIVE_MODEL": "env-model", "HIVE_MEMORY__RRF_K": "20"}
    cfg = HiveConfig.load(toml, environ=env, memory={"rrf_k": 30})
    assert cfg.tenant == "from-file"
    assert cfg.model == "env-model"
    assert cfg.memory.rrf_k == 30
    assert cfg.memory.outbox_batch == 7


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    toml = tmp_path / "other.toml"
    toml.write_text('tenant = "acme"\n')
    assert HiveConfig.load(environ={"HIVE_CONFIG": str(toml)}).tenant == "acme"


def test_env_list_values_parse_as_json() -> None:
    cfg = HiveConfig.load(environ={"HIVE_GUARD__FALLBACKS": '["a", "b"]'})
    assert cfg.guard.fallbacks == ("a", "b")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"nonsense": 1}, "nonsense"),
        ({"memory": {"rrf_k": -1}}, "memory.rrf_k"),
        ({"memory": {"bogus": 1}}, "memory.bogus"),
        ({"tenant": ""}, "tenant"),
    ],
)
def test_bad_keys_and_values_name_the_key(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(HiveConfigError) as info:
        HiveConfig.load(environ={}, **kwargs)
    assert info.value.key == key
    assert key in str(info.value)
    assert isinstance(info.value, HiveUsageError)


def test_bad_env_value_names_the_key() -> None:
    with pytest.raises(HiveConfigError, match=r"memory\.outbox_batch"):
        HiveConfig.load(environ={"HIVE_MEMORY__OUTBOX_BATCH": "many"})


def test_unreadable_toml_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("tenant = [unclosed\n")
    with pytest.raises(HiveConfigError, match="not valid TOML"):
        HiveConfig.load(bad, environ={})
    with pytest.raises(HiveConfigError, match="does not exist"):
        HiveConfig.load(tmp_path / "missing.toml", environ={})


def test_config_is_frozen() -> None:
    cfg = HiveConfig.load(environ={})
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        cfg.tenant = "x"  # type: ignore[misc]
