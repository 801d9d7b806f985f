from __future__ import annotations

from pathlib import Path

import pytest
from hive_middleware.integrations.server.keys import AuditLog, HiveAuthError, KeyStore

from hive_middleware.errors import HiveValidationError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_key_round_trip_hash_only_revoke_and_expiry(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore(tmp_path / "keys.sqlite", clock=clock)
    key, info = store.create("t1", agent="a", scopes=["read"], expires_in_s=60)
    p = store.authenticate(key)
    assert (p.tenant, p.agent, p.scopes, p.key_id) == ("t1", "a", frozenset({"read"}), info.key_id)
    store.close()
    assert key.split("_", 2)[2].encode() not in (tmp_path / "keys.sqlite").read_bytes()
    store = KeyStore(tmp_path / "keys.sqlite", clock=clock)
    with pytest.raises(HiveAuthError):
        store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(HiveAuthError):
        store.authenticate("nonsense")
    clock.now += 61
    with pytest.raises(HiveAuthError, match="expired"):
        store.authenticate(key)
    key2, info2 = store.create("t2", scopes=["read", "write"])
    store.revoke(info2.key_id)
    with pytest.raises(HiveAuthError, match="revoked"):
        store.authenticate(key2)
    with pytest.raises(HiveValidationError):
        store.revoke("nope")
    with pytest.raises(HiveValidationError):
        store.create("t", scopes=["root"])
    assert [k.tenant for k in store.list()] == ["t1", "t2"]


def test_audit_lines_appended(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "k.sqlite")
    key, _ = store.create("t1", agent="a")
    log = AuditLog(tmp_path / "audit.jsonl", clock=lambda: 5.0)
    log.record(store.authenticate(key), "memory.add", ["m1"])
    log.record(store.authenticate(key), "memory.forget", ["m1"])
    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert [e["operation"] for e in entries] == ["memory.add", "memory.forget"]
    assert entries[0]["tenant"] == "t1" and entries[0]["ids"] == ["m1"] and entries[0]["when"] == 5.0


def test_hive_keys_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hive_middleware.cli.main import app

    runner = CliRunner()
    out = runner.invoke(
        app, ["keys", "create", "--tenant", "t9", "--scopes", "read", "--data-dir", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    key = out.stdout.strip().splitlines()[0]
    store = KeyStore(tmp_path / "server" / "keys.sqlite")
    principal = store.authenticate(key)
    assert principal.tenant == "t9"
    listed = runner.invoke(app, ["keys", "list", "--data-dir", str(tmp_path)])
    assert principal.key_id in listed.stdout and key not in listed.stdout
    assert (
        runner.invoke(app, ["keys", "revoke", principal.key_id, "--data-dir", str(tmp_path)]).exit_code == 0
    )
    with pytest.raises(HiveAuthError):
        store.authenticate(key)
