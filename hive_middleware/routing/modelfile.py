"""Router model directories: ``weights.safetensors`` plus ``manifest.json``.

The manifest records the feature-spec version, the template list, the action
types, the calibration (temperature, threshold, OOD limit), a summary of the
training data, and the sha256 of every file; it also carries the sha256 of its
own canonical JSON (without that field), so editing a threshold by hand is
detected. Loading verifies all of it and refuses a tampered or mismatched model
with :class:`~hive_middleware.errors.HiveModelFileError`. Tensors are read with
``safetensors`` (plain arrays); nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hive_middleware.errors import HiveModelFileError
from hive_middleware.routing.calibrate import Calibration
from hive_middleware.routing.features import FEATURE_SPEC_VERSION, TYPE_NAMES, FeatureSpec
from hive_middleware.routing.net import NetWeights
from hive_middleware.routing.templates import TemplateSet

__all__ = ["MANIFEST", "MODEL_FORMAT", "WEIGHTS", "RouterModel", "load_model", "save_model"]

MODEL_FORMAT = "hive-router/1"
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"


@dataclass(frozen=True)
class RouterModel:
    """Everything a router needs to decide, as loaded from (or saved to) a model directory."""

    weights: NetWeights
    templates: TemplateSet
    spec: FeatureSpec
    calibration: Calibration
    training: Mapping[str, Any]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def save_model(model: RouterModel, out_dir: str | Path) -> Path:
    """Write ``weights.safetensors`` and ``manifest.json`` under ``out_dir``.

    Returns:
        The manifest path.
    """
    from safetensors.numpy import save

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise HiveModelFileError(f"--out {out} exists and is not a directory", path=str(out))
    out.mkdir(parents=True, exist_ok=True)
    cal = model.calibration
    tensors = {
        **{k: np.ascontiguousarray(v, dtype=np.float32) for k, v in model.weights.tensors().items()},
        "maha_mean": np.ascontiguousarray(cal.maha_mean, dtype=np.float32),
        "maha_precision": np.ascontiguousarray(cal.maha_precision, dtype=np.float32),
        "unseen": np.ascontiguousarray(cal.unseen, dtype=np.float32),
    }
    blob = save(tensors, metadata={"format": MODEL_FORMAT})
    (out / WEIGHTS).write_bytes(blob)
    manifest: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "feature_spec": model.spec.to_json(),
        "templates": list(model.templates.names),
        "matching": model.templates.matching,
        "types": list(TYPE_NAMES),
        "network": {"dim": model.weights.dim, "hidden": model.weights.hidden, "n_out": int(model.weights.w2.shape[1])},
        "calibration": {
            "temperature": cal.temperature,
            "threshold": cal.threshold,
            "maha_max": cal.maha_max,
            "target_precision": cal.target_precision,
        },
        "training": dict(model.training),
        "files": {WEIGHTS: {"sha256": _sha256(blob), "bytes": len(blob)}},
    }
    manifest["manifest_sha256"] = _sha256(_canonical(manifest))
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def _bad(model_dir: Path, problem: str) -> HiveModelFileError:
    return HiveModelFileError(
        f"router model {model_dir}: {problem}; retrain it with `hive router train`", path=str(model_dir)
    )


def _read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MANIFEST
    if not model_dir.is_dir():
        raise _bad(model_dir, "is not a directory")
    if not path.is_file():
        raise _bad(model_dir, f"has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(model_dir, f"{MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise _bad(model_dir, f"{MANIFEST} must hold a JSON object")
    if manifest.get("format") != MODEL_FORMAT:
        raise _bad(model_dir, f"format {manifest.get('format')!r} is not {MODEL_FORMAT!r}")
    if manifest.get("manifest_sha256") != _sha256(_canonical(manifest)):
        raise _bad(model_dir, f"{MANIFEST} was modified after training (its sha256 does not match)")
    return manifest


def load_model(model_dir: str | Path) -> RouterModel:
    """Load and verify a model directory.

    Raises:
        HiveModelFileError: a file is missing, a sha256 does not match, the
            feature spec, template list or action types differ from this version
            of hive-middleware, or tensor shapes disagree with the manifest.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    root = Path(model_dir)
    manifest = _read_manifest(root)
    try:
        spec_json = manifest["feature_spec"]
        if spec_json["version"] != FEATURE_SPEC_VERSION:
            raise _bad(root, f"feature spec {spec_json['version']!r} differs from this version's {FEATURE_SPEC_VERSION!r}")
        if manifest["types"] != list(TYPE_NAMES):
            raise _bad(root, "its action types differ from this version's")
        templates = TemplateSet.from_names(manifest["templates"], str(manifest.get("matching", "whitespace")))
        spec = FeatureSpec(
            n_templates=len(templates),
            obs_buckets=int(spec_json["obs_buckets"]),
            thought_buckets=int(spec_json["thought_buckets"]),
            action_buckets=int(spec_json["action_buckets"]),
        )
        if spec.dim != int(spec_json["dim"]):
            raise _bad(root, "feature dimension in the manifest does not match its spec")
        entry = manifest["files"][WEIGHTS]
        cal_json = manifest["calibration"]
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(root, f"{MANIFEST} lacks or mistypes a field ({exc})") from exc
    wpath = root / WEIGHTS
    if not wpath.is_file():
        raise _bad(root, f"has no {WEIGHTS}")
    blob = wpath.read_bytes()
    if _sha256(blob) != entry.get("sha256"):
        raise _bad(root, f"{WEIGHTS} does not match the sha256 in {MANIFEST} (tampered or corrupted)")
    try:
        tensors = load(blob)
    except (SafetensorError, ValueError) as exc:
        raise _bad(root, f"{WEIGHTS} is not a valid safetensors file ({exc})") from exc
    need = {"w1", "b1", "w2", "b2", "maha_mean", "maha_precision", "unseen"}
    if set(tensors) != need:
        raise _bad(root, f"{WEIGHTS} holds {sorted(tensors)}, expected {sorted(need)}")
    t = len(templates)
    n_out = t + 1 + len(TYPE_NAMES)
    w1, w2 = tensors["w1"], tensors["w2"]
    hidden = w1.shape[1] if w1.ndim == 2 else -1
    shapes_ok = (
        w1.shape == (spec.dim, hidden)
        and tensors["b1"].shape == (hidden,)
        and w2.shape == (hidden, n_out)
        and tensors["b2"].shape == (n_out,)
        and tensors["maha_mean"].shape == (hidden,)
        and tensors["maha_precision"].shape == (hidden, hidden)
        and tensors["unseen"].shape == (spec.dim,)
    )
    if not shapes_ok or any(v.dtype != np.float32 for v in tensors.values()):
        raise _bad(root, "tensor shapes or dtypes do not match the manifest's feature spec and templates")
    weights = NetWeights(w1=w1, b1=tensors["b1"], w2=w2, b2=tensors["b2"], n_templates=t)
    try:
        calibration = Calibration(
            temperature=float(cal_json["temperature"]),
            threshold=float(cal_json["threshold"]),
            maha_mean=tensors["maha_mean"],
            maha_precision=tensors["maha_precision"],
            maha_max=float(cal_json["maha_max"]),
            unseen=tensors["unseen"],
            target_precision=float(cal_json["target_precision"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(root, f"calibration in {MANIFEST} is incomplete ({exc})") from exc
    if not calibration.temperature > 0:
        raise _bad(root, "temperature must be positive")
    return RouterModel(
        weights=weights,
        templates=templates,
        spec=spec,
        calibration=calibration,
        training=manifest.get("training", {}),
    )
