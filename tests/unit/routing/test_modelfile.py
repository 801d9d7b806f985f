"""Model directories: safetensors + manifest with sha256; tampering is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hive_middleware.errors import HiveModelFileError
from hive_middleware.routing import load_policy
from hive_middleware.routing.modelfile import MANIFEST, WEIGHTS, load_model


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return dst


def test_manifest_records_spec_templates_thresholds_and_hashes(tiny_model: Path) -> None:
    manifest = json.loads((tiny_model / MANIFEST).read_text())
    assert manifest["feature_spec"]["version"].startswith("hive-router-features/")
    assert manifest["templates"]
    assert {"temperature", "threshold", "maha_max", "target_precision"} <= set(manifest["calibration"])
    assert len(manifest["files"][WEIGHTS]["sha256"]) == 64
    assert manifest["training"]["n_runs"] == 12
    assert (tiny_model / WEIGHTS).read_bytes()[:8] != b"\x80\x04\x95"[:8]  # not a pickle
    model = load_model(tiny_model)
    assert model.weights.w1.shape[0] == model.spec.dim


def test_tampered_weights_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    d = _copy(tiny_model, tmp_path)
    blob = bytearray((d / WEIGHTS).read_bytes())
    blob[-1] ^= 0x01
    (d / WEIGHTS).write_bytes(bytes(blob))
    with pytest.raises(HiveModelFileError, match="sha256"):
        load_policy(d)


def test_edited_manifest_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    d = _copy(tiny_model, tmp_path)
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["calibration"]["threshold"] = 0.0
    (d / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(HiveModelFileError, match="modified"):
        load_model(d)


def test_mismatched_feature_spec_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    from hive_middleware.routing.modelfile import _canonical, _sha256

    d = _copy(tiny_model, tmp_path)
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["feature_spec"]["version"] = "hive-router-features/0"
    manifest["manifest_sha256"] = _sha256(_canonical(manifest))  # a consistent but foreign manifest
    (d / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(HiveModelFileError, match="feature spec"):
        load_model(d)


def test_missing_files_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    d = _copy(tiny_model, tmp_path)
    (d / WEIGHTS).unlink()
    with pytest.raises(HiveModelFileError, match=WEIGHTS):
        load_model(d)
    with pytest.raises(HiveModelFileError, match="not a directory"):
        load_model(tmp_path / "nope")
