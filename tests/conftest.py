"""Shared fixtures: the real evaluation data beside the checkout, and isolation."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_middleware.testing.servers import (
    ChromaServer,
    PostgresServer,
    RedisServer,
    ServerUnavailable,
    chroma_binary,
    postgres_bin_dir,
    redis_binary,
    start_chroma,
    start_postgres,
    start_redis,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ----------------------------------------------------------------- real shared back-ends
# Started once per test session on loopback in temp dirs, stopped at the end; a test
# that needs one skips (with the install hint) only when the program is not installed.


@pytest.fixture
def server_programs() -> None:
    """Skips the test (with the install hint) unless PostgreSQL, redis-server and chroma are all installed."""
    try:
        postgres_bin_dir()
        redis_binary()
        chroma_binary()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL (Debian ``postgresql``) for the whole session."""
    try:
        postgres_bin_dir()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    with start_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database on the session's PostgreSQL, dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A throwaway ``redis-server`` for the whole session (tests that stop it start it again)."""
    try:
        redis_binary()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, emptied before the test (and started again if a test stopped it)."""
    import redis

    if not redis_server.running:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A throwaway ``chroma run`` server for the whole session."""
    try:
        chroma_binary()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    with start_chroma(tmp_path_factory.mktemp("chroma")) as server:
        yield server


@pytest.fixture
def chroma_url(chroma_server: ChromaServer) -> Iterator[str]:
    """The session's Chroma server, with every collection deleted before the test."""
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    for collection in client.list_collections():
        client.delete_collection(collection.name)
    yield chroma_server.url
