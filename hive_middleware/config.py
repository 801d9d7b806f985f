"""Configuration: one frozen pydantic model, loaded with a fixed precedence.

Precedence, highest first: keyword arguments > ``HIVE_*`` environment variables >
a TOML file > defaults. Nested sections use a double underscore in the
environment (``HIVE_MEMORY__SEARCH_K=20``) and a table in TOML (``[memory]``).
The TOML file is ``$HIVE_CONFIG`` if set, else ``./hive.toml`` if present.

Unknown keys and bad values raise :class:`~hive_middleware.errors.HiveConfigError`
naming the key and where it came from.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hive_middleware.errors import HiveConfigError

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_MAX_MESSAGE_CHARS",
    "DEFAULT_MODEL",
    "CompressionConfig",
    "GuardConfig",
    "HiveConfig",
    "MemoryConfig",
    "RoutingConfig",
    "SharedConfig",
]

DEFAULT_DATA_DIR = ".hive"
DEFAULT_MODEL = "gpt-4o"
DEFAULT_MAX_MESSAGE_CHARS = 2_000_000
ENV_PREFIX = "HIVE_"
CONFIG_FILE_ENV = "HIVE_CONFIG"
CONFIG_FILE_NAME = "hive.toml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class MemoryConfig(_Section):
    """Memory engine settings."""

    max_content_chars: int = Field(100_000, gt=0, description="Largest content accepted by remember().")
    embedder: str = Field(
        "minilm",
        description="'minilm' (packaged all-MiniLM-L6-v2), 'minilm-int8' (same, int8-quantised) or 'hashing' (tests).",
    )
    outbox_batch: int = Field(64, gt=0, description="Outbox rows embedded per worker batch.")
    rrf_k: int = Field(
        5, gt=0, description="Reciprocal-rank-fusion constant (small: the top ranks of each signal dominate)."
    )
    weight_vector: float = Field(0.7, ge=0, description="RRF weight of the vector signal.")
    weight_bm25: float = Field(1.0, ge=0, description="RRF weight of the BM25 signal.")
    weight_graph: float = Field(0.5, ge=0, description="RRF weight of graph expansion.")
    weight_recency: float = Field(0.0, ge=0, description="RRF weight of recency (newest valid_from first).")
    weight_recency_present: float = Field(
        0.5,
        ge=0,
        description="Extra recency weight when the query asks about the present ('now', 'currently').",
    )
    weight_author: float = Field(
        1.2,
        ge=0,
        description="RRF weight of the author signal: records whose metadata['author'] the query names "
        "gain weight / (rrf_k + 1); 0 turns author matching off.",
    )
    weight_date: float = Field(
        1.2,
        ge=0,
        description="RRF weight of the date signal: records valid on a day or month the query names "
        "gain weight / (rrf_k + 1); 0 turns date matching off.",
    )
    search_candidates: int = Field(50, gt=0, description="Hits each signal contributes before fusion.")
    graph_inherit: float = Field(
        0.5,
        ge=0,
        description="Share of a strong hit's fused score its graph neighbours inherit (0: rank by seed).",
    )
    expand_top: int = Field(
        10, ge=0, description="Strongest fused hits whose graph neighbours join the ranking."
    )
    graph: str = Field(
        "sqlite",
        description="Graph store: 'sqlite' (embedded under data_dir), 'sqlite:///path/to/dir' or "
        "'postgres://user@host:port/db' (shared by every process and machine; needs the [postgres] extra).",
    )
    vectors: str | None = Field(
        None,
        description="Vector index location: None (embedded Chroma under data_dir) or a Chroma server "
        "'http://host:port' (shared; same as chroma_url).",
    )
    vector_index: str = Field(
        "chroma", description="'chroma' (embedded under data_dir), 'memory' (tests) or 'none'."
    )
    chroma_url: str | None = Field(
        None,
        description="Older spelling of memory.vectors (a Chroma server URL); setting both to different "
        "URLs is an error.",
    )
    sqlite_synchronous: str = Field(
        "NORMAL",
        pattern="^(NORMAL|FULL)$",
        description="'NORMAL': an ack survives a killed process; 'FULL': also a power cut (one fsync per write).",
    )
    encryption_key_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the key that seals memory at rest (None: off). "
        "The variable holds 32 random bytes as base64 or hex. Content, metadata, reasons and edge metadata "
        "are stored AES-256-GCM sealed, keyword search indexes keyed hashes of the words, and a store sealed "
        "once refuses to open without its key (README: Encryption at rest). Not a HIVE_* name: those are "
        "read as settings.",
    )
    recall_cache_size: int = Field(100_000, ge=0, description="Current versions cached per process (0: off).")
    sensory_ttl_s: float = Field(300.0, gt=0, description="Seconds a sensory memory lives.")
    working_slots: int = Field(32, gt=0, description="Working-memory slots per task.")
    semantic_half_life_days: float = Field(90.0, gt=0, description="Confidence decay half-life.")
    max_records_per_namespace: int | None = Field(
        None, gt=0, description="LRU eviction limit (None: unbounded)."
    )
    resolve_conflicts: bool = Field(
        True, description="remember() decides ADD/UPDATE/INVALIDATE/NOOP against close current records."
    )
    conflict_candidates: int = Field(
        5, ge=0, description="Keyword matches compared per remember() (0: key only)."
    )
    conflict_scope: Literal["namespace", "agent", "tenant"] = Field(
        "namespace",
        description="Where remember() looks for records to confirm, update or contradict: 'namespace' "
        "(the write's own namespace only), 'agent' (every thread of the writing agent, namespace[:2]) or "
        "'tenant' (every agent of the tenant: one shared memory). Never wider than the tenant. In the two "
        "shared scopes a confirmation counts agents, not writes (see hive_middleware.memory.resolve).",
    )
    agent_trust: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="Agent name (namespace[1]) -> trust weight in [0, 1]; agents not listed weigh 1.0. "
        "Scales a record's fused search score and an agent's confirmations (see memory.retrieval).",
    )
    extractor_model: str | None = Field(None, description="litellm model of the fact extractor (None: off).")
    extractor_max_calls: int = Field(1, gt=0, description="Most extractor calls one write may make.")
    extractor_max_chars: int = Field(12_000, gt=0, description="Conversation characters per extractor call.")
    extractor_timeout_s: float = Field(20.0, gt=0, description="Timeout of one extractor call.")

    @field_validator("encryption_key_env")
    @classmethod
    def _key_env_outside_settings(cls, name: str | None) -> str | None:
        if name is not None and name.upper().startswith(ENV_PREFIX):
            raise ValueError(
                f"the key variable must not start with {ENV_PREFIX} (those variables are read as settings); "
                "name it e.g. MEMORY_SEALING_KEY"
            )
        return name


class CompressionConfig(_Section):
    """Context compression settings."""

    keep_recent_turns: int = Field(2, ge=0, description="Recent tool results kept most faithfully.")
    stale_similarity: float = Field(
        90.0, ge=0, le=100, description="rapidfuzz ratio above which a re-read is the same."
    )
    distill_min_chars: int = Field(
        600, ge=0, description="Older outputs shorter than this are kept, only compacted."
    )
    recent_max_chars: int = Field(
        4_000, gt=0, description="Recent outputs longer than this (characters) are distilled anyway."
    )
    drop_after_turns: int | None = Field(
        3, ge=0, description="Outputs older than this many turns become stubs (None: distil them at any age)."
    )
    max_index_identifiers: int = Field(
        50,
        ge=0,
        description="Most identifiers a stub lists from its original (those visible elsewhere are skipped).",
    )
    escalate_min_chars: int = Field(
        4_000, gt=0, description="Shortest output sent to the ESCALATE summariser (when one is configured)."
    )
    summarizer_model: str | None = Field(None, description="LLM used for ESCALATE summaries (None: off).")
    summarizer_max_tokens: int = Field(512, gt=0, description="Token budget of one ESCALATE summary.")
    summarizer_timeout_s: float = Field(20.0, gt=0, description="Timeout of one ESCALATE summary call.")


class RoutingConfig(_Section):
    """Action router settings."""

    model_dir: str | None = Field(None, description="Directory of a trained router model (None: router off).")
    target_precision: float = Field(0.95, gt=0, le=1, description="Precision the answer threshold targets.")
    feedback_buffer: int = Field(2_048, gt=0, description="Bounded size of the online feedback buffer.")
    device: str = Field("auto", description="'auto', 'cpu' or 'cuda'.")
    shadow: bool = Field(
        False, description="Shadow mode: answer only with habits proven per agent (the model becomes the prior)."
    )
    habit_min_observations: int = Field(
        20, gt=0, description="Observations a habit needs in its proof window before it may answer."
    )
    habit_min_lower_bound: float = Field(
        0.95, gt=0, le=1, description="Wilson lower bound of a habit's exact-match rate needed to answer."
    )
    habit_confidence_z: float = Field(
        1.0, gt=0, description="Normal quantile of that Wilson bound (1.0: one-sided 84 %; 1.645: 95 %)."
    )
    habit_min_sources: int = Field(3, gt=0, description="Distinct runs a habit's proof must come from.")


class GuardConfig(_Section):
    """Guarded model-call settings (read by :class:`hive_middleware.resilience.Guard`).

    Constructing it directly with a bad value raises :class:`HiveConfigError`
    naming the key, like :meth:`HiveConfig.load` does.
    """

    class ModelLimit(_Section):
        """Budget override for one model (same meaning as the section-level fields)."""

        requests_per_minute: float | None = Field(None, gt=0, description="Request budget per tenant.")
        tokens_per_minute: float | None = Field(None, gt=0, description="Token budget per tenant.")

    requests_per_minute: float | None = Field(None, gt=0, description="Request budget per tenant and model.")
    tokens_per_minute: float | None = Field(None, gt=0, description="Token budget per tenant and model.")
    burst_s: float | None = Field(
        None, gt=0, description="Seconds of budget a bucket holds (largest burst); None: a whole minute."
    )
    model_limits: dict[str, ModelLimit] = Field(
        default_factory=dict, description="Per-model budgets replacing the two above, by model name."
    )
    max_wait_s: float = Field(
        30.0, ge=0, description="Longest acquire() waits before raising HiveRateLimited."
    )
    failure_threshold: int = Field(5, gt=0, description="Consecutive failures that open a breaker.")
    failure_rate_threshold: float | None = Field(
        0.5,
        gt=0,
        le=1,
        description="Failure fraction over failure_window_s that opens a breaker (None: off).",
    )
    failure_window_s: float = Field(60.0, gt=0, description="Sliding window of the failure rate, seconds.")
    min_calls: int = Field(
        10, gt=0, description="Calls in the window before the failure rate may open a breaker."
    )
    cooldown_s: float = Field(30.0, gt=0, description="Seconds an open breaker waits before half-open.")
    probe_timeout_s: float | None = Field(
        120.0, gt=0, description="Seconds before an unanswered half-open probe is replaced (None: never)."
    )
    max_attempts: int = Field(4, gt=0, description="Attempts per call, retries included.")
    deadline_s: float = Field(120.0, gt=0, description="Total time budget of one guarded call.")
    initial_backoff_s: float = Field(0.5, ge=0, description="Wait before the first retry (before jitter).")
    max_backoff_s: float = Field(30.0, ge=0, description="Cap on the exponential backoff.")
    backoff_multiplier: float = Field(2.0, ge=1, description="Growth of the backoff per attempt.")
    jitter: float = Field(
        0.5, ge=0, le=1, description="Randomised fraction of each backoff (0: none, 1: full)."
    )
    fallbacks: tuple[str, ...] = Field((), description="Ordered fallback models.")
    allowed_models: tuple[str, ...] = Field(
        (), description="Models accepted as fallbacks even if litellm's model map does not list them."
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = "guard." + ".".join(str(p) for p in err["loc"])
            raise HiveConfigError(
                f"config key {key!r}: {err['msg']} (got {err.get('input')!r}); "
                f"see GuardConfig's field docs for allowed values",
                key=key,
            ) from exc


class SharedConfig(_Section):
    """What many processes share at once (limiter buckets, breaker state, channels, registry).

    Absent ``redis`` means everything stays in-process.
    """

    redis: str | None = Field(
        None,
        description="Redis URL ('redis://host:port/db') for shared limits, breakers, channels, the agent "
        "registry and the learning stream (needs the [redis] extra); None: in-process only.",
    )
    prefix: str = Field("hive", min_length=1, description="Prefix of every Redis key Hive writes.")
    heartbeat_s: float = Field(5.0, gt=0, description="Seconds between an agent's registry heartbeats.")
    agent_ttl_s: float = Field(
        30.0, gt=0, description="Seconds after its last heartbeat an agent is listed as gone."
    )
    retry_s: float = Field(
        1.0, gt=0, description="Seconds between reconnection attempts while Redis is unreachable."
    )
    pending_max: int = Field(
        100_000, gt=0, description="Shared writes queued locally while Redis is down (oldest kept on disk)."
    )


class HiveConfig(_Section):
    """All hive-middleware settings. Build with :meth:`HiveConfig.load`."""

    data_dir: str = Field(DEFAULT_DATA_DIR, description="Directory of the embedded stores.")
    tenant: str = Field("default", min_length=1, description="Tenant used when none is given.")
    model: str = Field(DEFAULT_MODEL, description="Model name used for token counting.")
    max_message_chars: int = Field(DEFAULT_MAX_MESSAGE_CHARS, gt=0, description="Largest message accepted.")
    otel: bool = Field(
        False,
        description="Trace pipeline steps and HTTP requests as OpenTelemetry spans through the global tracer "
        "provider (set HIVE_OTEL=1 or `otel = true`; needs hive-middleware[otel]).",
    )
    memory: MemoryConfig = Field(default_factory=MemoryConfig)  # type: ignore[arg-type]
    compression: CompressionConfig = Field(default_factory=CompressionConfig)  # type: ignore[arg-type]
    routing: RoutingConfig = Field(default_factory=RoutingConfig)  # type: ignore[arg-type]
    guard: GuardConfig = Field(default_factory=GuardConfig)
    shared: SharedConfig = Field(default_factory=SharedConfig)  # type: ignore[arg-type]

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> HiveConfig:
        """Build a config from defaults < TOML file < ``HIVE_*`` env < ``overrides``.

        Args:
            config_file: TOML file to read; default ``$HIVE_CONFIG`` or ``./hive.toml``.
            environ: Environment to read (default ``os.environ``).
            **overrides: Highest-precedence values; nested sections as dicts.

        Raises:
            HiveConfigError: unknown key, bad value, or unreadable file.
        """
        env = os.environ if environ is None else environ
        merged: dict[str, Any] = {}
        path = _config_path(config_file, env)
        if path is not None:
            _deep_merge(merged, _read_toml(path), source=str(path))
        _deep_merge(merged, _from_env(env), source="environment")
        _deep_merge(merged, dict(overrides), source="arguments")
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise HiveConfigError(
                f"config key {key!r}: {err['msg']} (got {err.get('input')!r}); "
                f"see HiveConfig's field docs for allowed values",
                key=key,
            ) from exc


def _config_path(config_file: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if config_file is not None:
        return Path(config_file)
    if env.get(CONFIG_FILE_ENV):
        return Path(env[CONFIG_FILE_ENV])
    default = Path(CONFIG_FILE_NAME)
    return default if default.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise HiveConfigError(f"config file {path} does not exist", key="config_file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise HiveConfigError(f"config file {path} is not valid TOML: {exc}", key="config_file") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = _parse_env_value(raw)
    return out


def _parse_env_value(raw: str) -> Any:
    # Scalars stay strings (pydantic coerces "3" or "true" per field type);
    # a JSON list or table lets tuple-valued keys be set from the environment.
    if raw.lstrip().startswith(("[", "{")):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any], *, source: str) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value, source=source)
        elif isinstance(value, BaseModel):
            base[key] = value.model_dump()
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
