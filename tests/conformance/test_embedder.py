"""Every Embedder passes the same conformance suite (the real MiniLM once per session)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hive_middleware.ports import Embedder
from hive_middleware.testing.conformance import EMBEDDER_CHECKS
from hive_middleware.testing.memory import HashingEmbedder

_MINILM: list[Embedder] = []


def _minilm() -> Embedder:
    # One loaded model for the whole session: loading costs seconds.
    if not _MINILM:
        from hive_middleware.adapters.embedders import MiniLMEmbedder

        _MINILM.append(MiniLMEmbedder())
    return _MINILM[0]


_INT8: list[Embedder] = []


def _minilm_int8() -> Embedder:
    if not _INT8:
        from hive_middleware.adapters.embedders import MiniLMInt8Embedder

        _INT8.append(MiniLMInt8Embedder())
    return _INT8[0]


FACTORIES: dict[str, Callable[[], Embedder]] = {
    "hashing": lambda: HashingEmbedder(128),
    "minilm": _minilm,
    "minilm-int8": _minilm_int8,
}


def test_int8_embedder_is_quantised_and_close_to_the_float_model() -> None:
    import torch

    float_model, int8_model = _minilm(), _minilm_int8()
    assert int8_model.name != float_model.name  # never mixed in one collection
    loaded = int8_model._loaded()  # type: ignore[attr-defined]
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in loaded.modules())
    texts = ["Caroline went to the adoption meeting on Friday.", "The build failed on the Java module."]
    for a, b in zip(float_model.embed(texts), int8_model.embed(texts), strict=True):
        assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.9


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
@pytest.mark.parametrize("check", EMBEDDER_CHECKS, ids=lambda c: c.__name__)
def test_embedder_conformance(check: Callable[[Callable[[], Embedder]], None], adapter: str) -> None:
    check(FACTORIES[adapter])


def test_one_text_direct_path_matches_batched_encode() -> None:
    """A query (one text) skips encode()'s overhead only where it gives the same vector."""
    embedder = _minilm()
    batch = embedder.embed(["the invoice export drops the VAT line", "second text pads the batch"])
    one = embedder.embed(["the invoice export drops the VAT line"])
    assert embedder._direct  # the packaged model's layout was verified at first use
    assert max(abs(a - b) for a, b in zip(one[0], batch[0], strict=True)) < 1e-5


def test_packaged_float_model_queries_take_the_prepacked_bert_forward() -> None:
    """The float model's one-text path is the prepacked BERT forward, equal to encode() up to the input limit."""
    from hive_middleware.adapters.embedders import _BertPlan

    embedder = _minilm()
    long_text = " ".join(f"token{i} of a very long memory" for i in range(200))  # well past 256 word pieces
    texts = ["Where did Melanie camp in June?", long_text]
    batch = embedder.embed(texts)
    assert isinstance(embedder._direct, _BertPlan)
    for text, ref in zip(texts, batch, strict=True):
        (one,) = embedder.embed([text])
        assert max(abs(a - b) for a, b in zip(one, ref, strict=True)) < 1e-5


def test_quantised_model_keeps_the_module_forward() -> None:
    """Quantised Linear layers are not plain BERT weights: the int8 model uses the transformer module."""
    from hive_middleware.adapters.embedders import _BertPlan

    embedder = _minilm_int8()
    embedder.embed(["one query"])
    assert embedder._direct and not isinstance(embedder._direct, _BertPlan)


def test_a_plan_that_does_not_reproduce_encode_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verification at first use is what admits a fast path: a plan off by 1e-3 is passed over."""
    from hive_middleware.adapters.embedders import MiniLMEmbedder, _BertPlan

    exact = _BertPlan.__call__

    def off(self: _BertPlan, text: str) -> list[float]:
        row = exact(self, text)
        row[0] += 1e-3
        return row

    monkeypatch.setattr(_BertPlan, "__call__", off)
    shared = _minilm()
    embedder = MiniLMEmbedder(shared._loaded())  # type: ignore[attr-defined]
    (one,) = embedder.embed(["the invoice export drops the VAT line"])
    assert embedder._direct and not isinstance(embedder._direct, _BertPlan)
    (ref,) = shared.embed(["the invoice export drops the VAT line", "pad"])[:1]
    assert max(abs(a - b) for a, b in zip(one, ref, strict=True)) < 1e-5


def test_a_plan_that_cannot_be_built_gives_way_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    from hive_middleware.adapters.embedders import MiniLMEmbedder, _BertPlan, _GenericPlan

    def broken(model: object, lock: object) -> _BertPlan:
        raise AttributeError("no encoder layers here")

    monkeypatch.setattr(_BertPlan, "build", broken)
    embedder = MiniLMEmbedder(_minilm()._loaded())  # type: ignore[attr-defined]
    embedder.embed(["one query"])
    assert isinstance(embedder._direct, _GenericPlan)


def test_queries_and_batches_from_many_threads_all_embed() -> None:
    """One-text plans and padded batches share a tokenizer whose mode each call sets."""
    from concurrent.futures import ThreadPoolExecutor

    embedder = _minilm()
    texts = [" ".join(["word"] * (1 + i % 17)) + f" item {i}" for i in range(40)]
    serial = {text: vector for text, vector in zip(texts, embedder.embed(texts), strict=True)}

    def call(i: int) -> list[tuple[str, list[float]]]:
        chunk = [texts[i % 40]] if i % 2 else texts[i % 8 : i % 8 + 6]
        return list(zip(chunk, embedder.embed(chunk), strict=True))

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = [pair for pairs in pool.map(call, range(1600)) for pair in pairs]
    assert len(answers) == 800 + 800 * 6
    for text, vector in answers:
        assert max(abs(a - b) for a, b in zip(vector, serial[text], strict=True)) < 1e-4
