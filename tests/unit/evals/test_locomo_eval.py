"""LoCoMo recall@k harness: exact scoring, the DESIGN §3 payload, the engine contract."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.errors import HiveDataError, HiveDependencyError, HiveValidationError
from hive_middleware.evals.locomo import read_locomo
from hive_middleware.evals.locomo_eval import (
    evaluate_retriever,
    load_engine_factory,
    locomo_markdown,
    parse_ks,
    plot_locomo,
    run_locomo_eval,
    turn_text,
)
from hive_middleware.evals.report import write_report
from hive_middleware.evals.retrievers import BM25Retriever, RetrievalItem

METHOD_KEYS = {"recall_at_k", "by_category", "adversarial", "latency_ms", "n_questions"}
TOP_KEYS = METHOD_KEYS | {"engine", "baselines", "ablations", "skipped"}
CATEGORIES = {"multi_hop", "temporal", "open_domain", "single_hop"}


class ScriptedRetriever:
    """Returns a fixed ranking per question text; records what it was given."""

    name = "scripted"

    def __init__(self, rankings: dict[str, list[str]]) -> None:
        self.rankings = rankings
        self.ingested: dict[str, list[RetrievalItem]] = {}
        self.queries: list[tuple[str, str, int]] = []
        self.closed = False

    def ingest(self, namespace: str, items: Sequence[RetrievalItem]) -> None:
        self.ingested.setdefault(namespace, []).extend(items)

    def search(self, namespace: str, query: str, k: int) -> list[str]:
        self.queries.append((namespace, query, k))
        return self.rankings.get(query, [])[:k]

    def close(self) -> None:
        self.closed = True


def _conv(sample_id: str, n_turns: int, qa: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "10:00 am on 1 March, 2023",
            "session_1": [
                {"speaker": "Ana" if i % 2 else "Ben", "dia_id": f"D1:{i}", "text": f"turn {i}"}
                for i in range(1, n_turns + 1)
            ],
        },
        "qa": qa,
    }


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    data = [
        _conv(
            "c1",
            30,
            [
                {"question": "q-multi", "answer": "a", "evidence": ["D1:1", "D1:2"], "category": 1},
                {"question": "q-temporal", "answer": 2023, "evidence": ["D1:3"], "category": 2},
                {"question": "q-open", "answer": "a", "category": 3},  # no evidence: not scored
                {"question": "q-adv", "adversarial_answer": "x", "evidence": ["D1:4"], "category": 5},
            ],
        ),
        _conv("c2", 30, [{"question": "q-single", "answer": "a", "evidence": ["D1:20"], "category": 4}]),
    ]
    path = tmp_path / "small.json"
    path.write_text(json.dumps(data))
    return path


RANKINGS = {
    # evidence D1:1 at rank 1 and D1:2 at rank 7 -> @5 = 0.5, @10 = 1
    "q-multi": ["D1:1", "D1:9", "D1:8", "D1:7", "D1:6", "D1:5", "D1:2"],
    # evidence at rank 12 -> @5 = @10 = 0, @25 = 1
    "q-temporal": [*(f"D1:{i}" for i in range(10, 21)), "D1:3"],
    "q-adv": ["D1:4"],
    "q-single": [],  # nothing found
}


def test_recall_is_exact_and_micro_averaged(small_file: Path) -> None:
    conversations = read_locomo(small_file)
    r = ScriptedRetriever(RANKINGS)
    result = evaluate_retriever(conversations, r, (5, 10, 25))
    assert set(result) == METHOD_KEYS
    assert result["n_questions"] == 3  # 1-4 with evidence; category 5 apart, q-open unscored
    assert result["recall_at_k"] == pytest.approx({"5": 0.5 / 3, "10": 1 / 3, "25": 2 / 3})
    by = result["by_category"]
    assert set(by) == CATEGORIES
    assert by["multi_hop"]["recall_at_k"] == {"5": 0.5, "10": 1.0, "25": 1.0}
    assert by["temporal"]["recall_at_k"] == {"5": 0.0, "10": 0.0, "25": 1.0}
    assert by["single_hop"]["recall_at_k"] == {"5": 0.0, "10": 0.0, "25": 0.0}
    assert by["open_domain"] == {"recall_at_k": {"5": None, "10": None, "25": None}, "n_questions": 0}
    assert result["adversarial"] == {"recall_at_k": {"5": 1.0, "10": 1.0, "25": 1.0}, "n_questions": 1}
    assert set(result["latency_ms"]) == {"p50", "p95"}
    # one search per scored question at depth max(k), in the question's own namespace
    assert sorted(r.queries) == sorted(
        [("c1", "q-multi", 25), ("c1", "q-temporal", 25), ("c1", "q-adv", 25), ("c2", "q-single", 25)]
    )


def test_turns_ingested_per_conversation_with_session_time(small_file: Path) -> None:
    r = ScriptedRetriever({})
    evaluate_retriever(read_locomo(small_file), r, (5,))
    assert set(r.ingested) == {"c1", "c2"}
    first = r.ingested["c1"][0]
    assert first.id == "D1:1" and first.text == "Ana: turn 1"
    assert first.valid_time is not None and first.valid_time.isoformat() == "2023-03-01T10:00:00+00:00"


def test_turn_text_includes_shared_photo_caption(tmp_path: Path) -> None:
    data = [_conv("c", 1, [])]
    data[0]["conversation"]["session_1"][0]["blip_caption"] = "a photo of a red bike"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    (turn,) = read_locomo(path)[0].turns
    assert turn_text(turn) == "Ana: turn 1 [shared a photo: a photo of a red bike]"


def test_payload_without_engine_has_null_top_level(small_file: Path) -> None:
    bm25, scripted = BM25Retriever(), ScriptedRetriever(RANKINGS)
    seconds: dict[str, float] = {}
    payload = run_locomo_eval(
        [small_file], (5, 10), None, {"bm25": bm25, "vector": scripted}, method_seconds=seconds
    )
    assert set(seconds) == {"bm25", "vector"} and all(s >= 0 for s in seconds.values())
    assert "Per method (ingest + searches): bm25" in locomo_markdown(payload, method_seconds=seconds)
    assert set(payload) == TOP_KEYS
    assert payload["engine"] is None
    assert all(payload[key] is None for key in ("recall_at_k", "by_category", "adversarial", "latency_ms"))
    assert payload["n_questions"] == 3
    assert set(payload["baselines"]) == {"bm25", "vector"}
    for result in payload["baselines"].values():
        assert set(result) == METHOD_KEYS and set(result["recall_at_k"]) == {"5", "10"}
    assert not scripted.closed  # the caller owns the retrievers
    bm25.close()


def test_payload_with_engine_fills_top_level(small_file: Path) -> None:
    engine = ScriptedRetriever(RANKINGS)
    payload = run_locomo_eval([small_file], (5, 10, 25), engine, {"bm25": BM25Retriever()})
    assert payload["engine"] == "scripted"
    assert payload["recall_at_k"] == pytest.approx({"5": 0.5 / 3, "10": 1 / 3, "25": 2 / 3})
    assert set(payload["baselines"]["bm25"]) == set(payload) - {"engine", "baselines", "ablations", "skipped"}


def test_repeated_or_missing_data_is_refused(small_file: Path, tmp_path: Path) -> None:
    with pytest.raises(HiveDataError, match="already read"):
        run_locomo_eval([small_file, small_file], (5,), None, {})
    with pytest.raises(HiveDataError, match="does not exist"):
        run_locomo_eval([tmp_path / "none.json"], (5,), None, {})
    with pytest.raises(HiveValidationError):
        run_locomo_eval([small_file], (), None, {})


@pytest.mark.parametrize(("text", "ks"), [("5,10,25", (5, 10, 25)), ("25, 5,5", (5, 25)), ("1", (1,))])
def test_parse_ks(text: str, ks: tuple[int, ...]) -> None:
    assert parse_ks(text) == ks


@pytest.mark.parametrize("text", ["", "0", "5,x", "-1", "5.5"])
def test_parse_ks_rejects(text: str) -> None:
    with pytest.raises(HiveValidationError):
        parse_ks(text)


def test_engine_factory_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    name = "hive_middleware.testing.fake_eval_engine"
    assert load_engine_factory("hive_middleware.testing.no_such_module") is None
    assert load_engine_factory("no_such_package.eval_retriever") is None

    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(HiveDependencyError, match="make_retriever"):
        load_engine_factory(name)

    made: list[Path] = []

    def make_retriever(workdir: Path) -> ScriptedRetriever:
        made.append(workdir)
        return ScriptedRetriever({})

    module.make_retriever = make_retriever  # type: ignore[attr-defined]
    factory = load_engine_factory(name)
    assert factory is not None
    assert isinstance(factory(tmp_path), ScriptedRetriever) and made == [tmp_path]


def test_report_files_from_real_data_slice(shared_data: Path, tmp_path: Path) -> None:
    raw = json.loads((shared_data / "locomo" / "locomo_dev.json").read_text())
    path = tmp_path / "one.json"
    path.write_text(json.dumps(raw[:1]))
    bm25 = BM25Retriever()
    payload = run_locomo_eval([path], (5, 10, 25), None, {"bm25": bm25})
    bm25.close()
    result = payload["baselines"]["bm25"]
    assert result["n_questions"] == payload["n_questions"] > 100
    values = list(result["recall_at_k"].values())
    assert values == sorted(values) and 0.2 < values[0] <= values[-1] <= 1.0  # recall grows with k
    written = write_report(
        tmp_path / "out", "locomo", payload, locomo_markdown(payload), plot_locomo(payload)
    )
    assert json.loads(written["json"].read_text())["engine"] is None
    assert "| bm25 | @5 |" in written["md"].read_text()
    assert written["png"].stat().st_size > 1000
