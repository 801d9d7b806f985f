"""Packaging: the user's top level maps into one namespace (the layers: test_layers.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "litellm", "chromadb", "langchain", "langgraph", "sentence_transformers", "matplotlib")


def _modules_under(folder: Path, prefix: str) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        names.append(".".join([prefix, *parts]))
    return names


def all_modules(root: Path = ROOT) -> list[str]:
    return (
        _modules_under(root / "hive_middleware", "hive_middleware")
        + _modules_under(root / "adapters", "hive_middleware.adapters")
        + _modules_under(root / "integrations", "hive_middleware.integrations")
    )


def test_every_package_directory_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {m for m in all_modules() if (ROOT / _path_of(m)).is_dir()}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def _path_of(module: str) -> str:
    parts = module.split(".")
    if parts[1:2] == ["adapters"]:
        return "/".join(["adapters", *parts[2:]])
    if parts[1:2] == ["integrations"]:
        return "/".join(["integrations", *parts[2:]])
    return "/".join(parts)


def test_import_is_fast_and_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import hive_middleware; "
        "print(time.perf_counter() - t); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seconds, heavy = out.splitlines()[0], ([*out.splitlines(), ""])[1]
    assert float(seconds) < 1.5, f"import hive_middleware took {seconds} s"
    assert heavy == "", f"import hive_middleware pulled in {heavy}"


def test_every_module_imports_from_the_source_tree() -> None:
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
    subprocess.run([sys.executable, "-c", code, *all_modules()], check=True, cwd=ROOT)


@pytest.mark.slow
def test_built_wheel_installs_and_imports_every_module(tmp_path: Path) -> None:
    # Build from a copy so a concurrent build never shares setuptools' build/ folder.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("hive_middleware", "adapters", "integrations"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(src)],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(wheel_dir.glob("hive_middleware-*.whl"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # Dependencies come from the development environment's site-packages, appended after
    # the fresh environment's own, so hive_middleware itself resolves to the wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    site = next((env_dir / "lib").glob("python*/site-packages"))
    (site / "zz_deps.pth").write_text("\n".join(deps) + "\n")
    code = (
        "import importlib, sys, hive_middleware\n"
        "assert hive_middleware.__file__.startswith(sys.argv[1]), hive_middleware.__file__\n"
        "for m in sys.argv[2:]: importlib.import_module(m)\n"
        "print(hive_middleware.__version__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [str(py), "-I", "-c", code, str(site), *all_modules(src)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
