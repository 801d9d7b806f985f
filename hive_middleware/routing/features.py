"""Router features: a fixed-length vector computed from the agent state only.

The state is what the agent knew *before* acting (goal, earlier steps, env);
nothing here sees the next action or anything derived from it, and a test
checks that the features of step ``t`` are identical whether or not step ``t``
and later steps exist.

Feature spec :data:`FEATURE_SPEC_VERSION` (blocks, in order):

* ``kind_last{1,2,3}``: one-hot coarse kind of the last three actions (:data:`ACTION_KINDS`).
* ``type_last``: one-hot action type of the last action (:data:`ACTION_TYPES`).
* ``kind_hist``: share of each kind among the last 10 actions.
* ``sig_last{1,2}``: observation signals of the last two steps (exit/traceback,
  tests failed/passed, file created/edited, no matches, hits ...).
* ``sig_run``: the same signals for the output of the most recent run/test/build.
* ``step``: log-bucketed step index and a clipped scalar.
* ``state``: edits since the last run, number of distinct runs and created
  files, dialect, env facts known, last action repeated, whether the latest
  edit was to the agent's own created script / to the file the latest run
  command names, size of each
  argument source (hits, line hits, frames, runs ...).
* ``fillable``: which templates of the model can be filled now.
* ``executed`` / ``repeat``: per template, whether the command it proposes was
  already run earlier / is the last action.
* ``obs_hash`` / ``thought_hash`` / ``action_hash``: hashed unigrams and bigrams
  of the last observation (head and tail), the last thought, the last action.

The vector length depends on the number of templates; the manifest stores it.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hive_middleware.routing.action_types import ACTION_TYPES, action_type
from hive_middleware.routing.facts import ACTION_KINDS, OBS_SIGNALS, StateFacts

__all__ = ["FEATURE_SPEC_VERSION", "TYPE_NAMES", "FeatureSpec", "cached_action_type"]

FEATURE_SPEC_VERSION = "hive-router-features/1"

TYPE_NAMES: tuple[str, ...] = tuple(ACTION_TYPES)
_TYPE_INDEX = {t: i for i, t in enumerate(TYPE_NAMES)}
_NK = len(ACTION_KINDS)
_NS = len(OBS_SIGNALS)
_SIG_INDEX = {s: i for i, s in enumerate(OBS_SIGNALS)}
_STEP_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64)
_DIALECTS = {"sre": 0, "aci": 1, "unknown": 2}
_SOURCES_SIZED = (
    "runs",
    "created",
    "hits",
    "line_hits",
    "bare_lines",
    "frames",
    "view_window",
    "last_edited",
)

# Tokens of lower-cased text: identifiers, digit runs, single other non-space characters, as
# "[A-Za-z_][A-Za-z_0-9]*|\d+|[^\sA-Za-z_0-9]" defines them. Written so the engine takes one
# step per token: the whitespace before a token is consumed with it (possessively), and the
# classes are disjoint (the single-character class also excludes the Unicode digits "\d" takes),
# so the cheapest test comes first. No A-Z survives str.lower(). Text is right-stripped first
# (str.rstrip and "\s" agree on every code point): trailing whitespace makes no token, and a
# long run of it would cost a failed match per position.
_TOKEN = re.compile(r"\s*+([^\sa-z_\d]|[a-z_][a-z_0-9]*+|\d++)")
_OBS_HEAD, _OBS_TAIL, _THOUGHT_TAIL = 600, 300, 600
_BIGRAM_MUL = 1_000_003


@lru_cache(maxsize=65_536)
def cached_action_type(action: str) -> str:
    """:func:`~hive_middleware.routing.action_types.action_type`, memoised (it costs tens of µs)."""
    return action_type(action)


class _CrcTable(dict[str, int]):
    """crc32 of tokens, computed on first lookup (``__missing__``).

    crc32 is stable across processes (Python's str hash is salted per process). Hits are
    served by ``map(table.__getitem__, tokens)`` in C; a state brings a few new tokens.
    """

    def __missing__(self, token: str) -> int:
        if len(self) >= _TOKEN_CRC_MAX:
            self.clear()
        # "surrogatepass" equals strict UTF-8 except on lone surrogates, which it encodes.
        value = self[token] = zlib.crc32(token.encode("utf-8", "surrogatepass"))
        return value


_TOKEN_CRC_MAX = 262_144
_TOKEN_CRC = _CrcTable()


def _tokens(text: str) -> list[str]:
    """The tokens of ``text`` (lower-cased)."""
    return _TOKEN.findall(text.lower().rstrip())


def _token_hashes(tokens: list[str]) -> list[int]:
    """crc32 of each token (see :class:`_CrcTable`)."""
    return list(map(_TOKEN_CRC.__getitem__, tokens))


@lru_cache(maxsize=64)
def _block_params(layout: tuple[int, ...]) -> np.ndarray:
    """Per hashed block ``(salt, salt * 7, buckets, offset)`` as int64 rows (salts 1, 2, 3)."""
    rows = [(k + 1, (k + 1) * 7, layout[2 * k], layout[2 * k + 1]) for k in range(len(layout) // 2)]
    return np.array(rows, dtype=np.int64)


@lru_cache(maxsize=16_384)
def _hashed_step(obs: str, thought: str, action: str, layout: tuple[int, ...]) -> np.ndarray:
    """Vector positions of the n-gram features of the last step (cached).

    For each text (observation, thought, action: salts 1, 2 and 3, ``layout`` is
    ``(buckets, offset)`` per text), unigram ``h`` goes to ``(h ^ salt) % buckets``
    and bigram ``(a, b)`` to ``((a * 1_000_003) ^ b ^ (salt * 7)) % buckets`` (``h``
    the token's crc32), shifted to the block's offset. Computed for the three texts
    in one set of NumPy calls (int64: ``a * 1_000_003 < 2**52``, no overflow);
    bigrams never span two texts. Positions may repeat.
    """
    t1, t2, t3 = _tokens(obs), _tokens(thought), _tokens(action)
    n1, n2 = len(t1), len(t2)
    n = n1 + n2 + len(t3)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    arr = np.array(_token_hashes(t1 + t2 + t3), dtype=np.int64)
    per = np.repeat(_block_params(layout), (n1, n2, n - n1 - n2), axis=0)
    salt, salt7, buckets, offset = per[:, 0], per[:, 1], per[:, 2], per[:, 3]
    uni = arr ^ salt
    uni %= buckets
    uni += offset
    big = arr[:-1] * _BIGRAM_MUL
    big ^= arr[1:]
    big ^= salt7[:-1]
    big %= buckets[:-1]
    big += offset[:-1]
    # A pair whose second token starts the next text is not a bigram: point it at a unigram.
    for end in (n1, n1 + n2):
        if 0 < end < n:
            big[end - 1] = uni[0]
    return np.concatenate((uni, big))


@lru_cache(maxsize=64)
def _offsets(spec: FeatureSpec) -> dict[str, int]:
    return spec._layout()


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Layout of the feature vector for a model with ``n_templates`` templates.

    Args:
        n_templates: Number of templates of the model (the ``fillable`` block).
        obs_buckets: Hash buckets for the last observation.
        thought_buckets: Hash buckets for the last thought.
        action_buckets: Hash buckets for the last action.
    """

    n_templates: int
    obs_buckets: int = 96
    thought_buckets: int = 64
    action_buckets: int = 32

    @property
    def version(self) -> str:
        """The spec version string stored in model manifests."""
        return FEATURE_SPEC_VERSION

    @property
    def offsets(self) -> dict[str, int]:
        """Start offset of each block; ``"end"`` is the vector length."""
        return _offsets(self)

    @property
    def dim(self) -> int:
        """Length of the feature vector."""
        return self.offsets["end"]

    def _layout(self) -> dict[str, int]:
        sizes = [
            ("kind_last", 3 * _NK),
            ("type_last", len(TYPE_NAMES)),
            ("kind_hist", _NK),
            ("sig_last", 2 * _NS),
            ("sig_run", _NS),
            ("step", len(_STEP_BUCKETS) + 1),
            ("state", 14 + len(_SOURCES_SIZED)),
            ("fillable", self.n_templates),
            ("executed", self.n_templates),
            ("repeat", self.n_templates),
            ("obs_hash", self.obs_buckets),
            ("thought_hash", self.thought_buckets),
            ("action_hash", self.action_buckets),
        ]
        out: dict[str, int] = {}
        pos = 0
        for name, size in sizes:
            out[name] = pos
            pos += size
        out["end"] = pos
        return out

    def to_json(self) -> dict[str, int | str]:
        """The spec as stored in a manifest."""
        return {
            "version": self.version,
            "n_templates": self.n_templates,
            "obs_buckets": self.obs_buckets,
            "thought_buckets": self.thought_buckets,
            "action_buckets": self.action_buckets,
            "dim": self.dim,
        }

    def vector(
        self,
        facts: StateFacts,
        last_step: tuple[str, str, str] | None,
        step_index: int,
        fillable: np.ndarray,
        source_sizes: dict[str, int],
        executed: np.ndarray | None,
        repeat: np.ndarray | None,
        *,
        executed_idx: list[int] | None = None,
        repeat_idx: list[int] | None = None,
    ) -> np.ndarray:
        """The float32 feature vector of one state.

        Args:
            facts: :func:`~hive_middleware.routing.facts.state_facts` of the state.
            last_step: ``(action, observation, thought)`` of the latest past step, if any.
            step_index: The state's step index.
            fillable: The model's template fillability mask.
            source_sizes: Number of candidates of each argument source.
            executed: Per template, whether its command was already run earlier.
            repeat: Per template, whether its command equals the last action.
            executed_idx: Instead of ``executed`` and ``repeat`` (pass ``None`` for
                both): the template indices where they are 1 (saves NumPy calls).
            repeat_idx: See ``executed_idx``.
        """
        # Indices and values are gathered in Python lists and written in three NumPy
        # calls: per-element NumPy writes cost ~10x more than list appends.
        off = self.offsets
        ones: list[int] = []
        idx: list[int] = []
        vals: list[float] = []
        steps = facts.steps
        for j in range(min(3, len(steps))):
            ones.append(off["kind_last"] + j * _NK + steps[j].kind_index)
        if last_step is not None:
            ones.append(off["type_last"] + _TYPE_INDEX[cached_action_type(last_step[0])])
        window = steps[:10]
        if window:
            hist: dict[int, float] = {}
            share = 1.0 / len(window)
            for f in window:
                hist[f.kind_index] = hist.get(f.kind_index, 0.0) + share
            idx.extend(off["kind_hist"] + k for k in hist)
            vals.extend(hist.values())
        for j in range(min(2, len(steps))):
            base = off["sig_last"] + j * _NS
            ones.extend(base + _SIG_INDEX[s] for s in steps[j].signals)
        base = off["sig_run"]
        ones.extend(base + _SIG_INDEX[s] for s in facts.last_run_signals)
        if executed_idx is not None:
            base = off["executed"]
            ones.extend(base + i for i in executed_idx)
            base = off["repeat"]
            ones.extend(base + i for i in repeat_idx or ())
        bucket = sum(1 for b in _STEP_BUCKETS if step_index >= b) - 1
        ones.append(off["step"] + bucket)
        st = off["state"]
        ones.append(st + min(facts.edits_since_run, 3))
        ones.append(st + 6 + _DIALECTS[facts.dialect])
        if facts.cwd:
            ones.append(st + 9)
        if facts.open_file:
            ones.append(st + 10)
        if facts.last_action and facts.last_action == facts.second_action:
            ones.append(st + 11)
        if facts.edited_own_script:
            ones.append(st + 12)
        if facts.edited_run_target:
            ones.append(st + 13)
        idx += [off["step"] + len(_STEP_BUCKETS), st + 4, st + 5]
        vals += [min(step_index, 100) / 100.0, len(facts.runs) / 4.0, len(facts.created) / 4.0]
        for k, name in enumerate(_SOURCES_SIZED):
            idx.append(st + 14 + k)
            vals.append(min(source_sizes.get(name, 0), 8) / 8.0)
        out = np.zeros(self.dim, dtype=np.float32)
        out[ones] = 1.0
        out[idx] = vals
        out[off["fillable"] : off["fillable"] + self.n_templates] = fillable
        if executed_idx is None:
            out[off["executed"] : off["executed"] + self.n_templates] = executed
            out[off["repeat"] : off["repeat"] + self.n_templates] = repeat
        if last_step is not None:
            action, obs, thought = last_step
            text = obs[:_OBS_HEAD] + "\n" + obs[-_OBS_TAIL:] if len(obs) > _OBS_HEAD + _OBS_TAIL else obs
            layout = (
                self.obs_buckets, off["obs_hash"], self.thought_buckets, off["thought_hash"],
                self.action_buckets, off["action_hash"],
            )  # fmt: skip
            out[_hashed_step(text, thought[-_THOUGHT_TAIL:], action[:300], layout)] = 1.0
        return out
