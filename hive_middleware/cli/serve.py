"""``hive serve`` and ``hive keys``: the Hive HTTP service and its per-tenant API keys."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Annotated, Any

import typer

from hive_middleware.cli.app import app

keys_app = typer.Typer(
    help="Create, list and revoke API keys (only hashes are stored).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")

_DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: from the config).")
]


def _store(data_dir: Path | None) -> Any:
    from hive_middleware.config import HiveConfig

    root = Path(data_dir) if data_dir is not None else Path(HiveConfig.load().data_dir)
    module = import_module("hive_middleware.integrations.server.keys")
    return module.KeyStore(root.expanduser() / "server" / "keys.sqlite")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant every request of this key is scoped to.")],
    agent: Annotated[str | None, typer.Option("--agent", help="Agent the key acts as.")] = None,
    scopes: Annotated[
        str, typer.Option("--scopes", help="Comma-separated: read,write,admin.")
    ] = "read,write",
    expires_in: Annotated[
        float | None, typer.Option("--expires-in", help="Days until the key expires.")
    ] = None,
    data_dir: _DataDir = None,
) -> None:
    """Create a key and print it once (it cannot be shown again)."""
    store = _store(data_dir)
    try:
        key, info = store.create(
            tenant,
            agent=agent,
            scopes=scopes.split(","),
            expires_in_s=expires_in * 86400 if expires_in is not None else None,
        )
    finally:
        store.close()
    typer.echo(key)
    typer.echo(
        f"key id {info.key_id}, tenant {info.tenant}, scopes {','.join(sorted(info.scopes))}", err=True
    )


@keys_app.command("list")
def keys_list(data_dir: _DataDir = None) -> None:
    """List keys (id, tenant, agent, scopes, state); secrets are never shown."""
    store = _store(data_dir)
    try:
        for k in store.list():
            state = "revoked" if k.revoked_at is not None else "active"
            typer.echo(f"{k.key_id}\t{k.tenant}\t{k.agent or '-'}\t{','.join(sorted(k.scopes))}\t{state}")
    finally:
        store.close()


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id from `hive keys list`.")], data_dir: _DataDir = None
) -> None:
    """Revoke a key at once."""
    store = _store(data_dir)
    try:
        store.revoke(key_id)
    finally:
        store.close()
    typer.echo(f"revoked {key_id}")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    data_dir: _DataDir = None,
) -> None:
    """Serve the Hive REST API (and /mcp when available) over the configured stack."""
    import uvicorn

    from hive_middleware.config import HiveConfig
    from hive_middleware.stack import HiveStack

    config = HiveConfig.load()
    if data_dir is not None:
        config = config.model_copy(update={"data_dir": str(data_dir)})
    root = Path(config.data_dir).expanduser() / "server"
    keys_mod = import_module("hive_middleware.integrations.server.keys")
    app_mod = import_module("hive_middleware.integrations.server.app")
    stack = HiveStack.from_config(config)
    keys = keys_mod.KeyStore(root / "keys.sqlite")
    audit = keys_mod.AuditLog(root / "audit.jsonl")
    api = app_mod.create_app(lambda: stack, keys=keys, audit=audit)
    mcp_mod = import_module("hive_middleware.integrations.server.mcp")
    mcp_mod.mount_mcp(api, stack, keys.authenticate, audit=audit)
    uvicorn.run(api, host=host, port=port, log_level="warning")
