"""The package's layers, enforced on every module's imports (parsed with ``ast``, nothing imported).

Layers, bottom to top, and what each may import from ``hive_middleware`` (the
standard library and third parties are not checked here):

=============  ===========================================  =========================================
layer          modules                                      may import
=============  ===========================================  =========================================
core           ``hive_middleware/`` except ``evals/``,      core
               ``cli/``, ``testing/``
testing        ``hive_middleware/testing/`` (in-memory      core, testing
               adapters, fakes, conformance suites)
adapters       ``adapters/`` (``hive_middleware.adapters``)   core, testing, adapters
integrations   ``integrations/``                            core, testing, adapters, integrations
evals          ``hive_middleware/evals/`` (measure the       everything but cli
               product from above)
cli            ``hive_middleware/cli/`` (the ``hive``         everything
               command)
=============  ===========================================  =========================================

So the core never imports the evals, the command line, an adapter, an integration
or a fake; integrations never import evals or cli; adapters never import
integrations, evals or cli; evals never import the command line that drives them.

What counts as an import: every ``import`` and ``from ... import`` statement
anywhere in a module, inside functions and classes and under ``if TYPE_CHECKING:``
included (a lazy import is still a dependency); relative imports are resolved;
``from hive_middleware import evals`` imports ``hive_middleware.evals``; an
``import_module(...)``/``__import__(...)`` call with a literal name is an import.

Dynamic wiring, the one precise exception. DESIGN §1 says the core never imports
``adapters/``; STYLE rule 2 says to wire them "by configuration or constructor
injection". ``MemoryStore.open`` (which ``HiveStack`` calls) opens the embedded
default store from configuration names (``memory.vector_index = "chroma"``,
``memory.embedder = "minilm"``), so some module the core reaches must turn a name
into an adapter class. That lookup is confined to one wiring module,
``hive_middleware.memory.backends``: a table of ``"module:attribute"`` strings
resolved with :mod:`importlib` when a store is opened, the way plug-ins are
loaded. It holds no import statement of an adapter, so importing the core never
loads one and no core logic depends on an adapter's code. Moving the table out of
the core would not remove the need (the core's facade still has to open the
configured store through it); keeping it in one named module, with every other
module checked, keeps the dependency visible and contained. To make that rule
precise rather than a blind spot, a string literal that is a dotted
``hive_middleware...`` module path (optionally ``:attribute``) counts as an import
too, and such references across layers are allowed only where
:data:`ALLOWED_DYNAMIC` lists them:

* ``hive_middleware.memory.backends`` may name ``hive_middleware.adapters.*`` and
  ``hive_middleware.testing.memory`` (the configuration wiring above; the
  in-memory index and the hashing embedder are configurable back-ends too);
* ``hive_middleware.resilience.shared`` may name ``hive_middleware.adapters.*``
  (``shared.redis`` wires the shared limiter and breaker stores the same way);
* ``hive_middleware.hivemind.wiring`` may name ``hive_middleware.adapters.*``
  (``shared.redis`` wires channels, registry and learning stream the same way);
* ``hive_middleware`` (the package facade) may name
  ``hive_middleware.integrations.decorator``: ``hive_middleware.agent`` is public
  API, resolved on first attribute access; no core module uses it.

A second test checks that the modules' top-level imports (those that run when a
module is imported: not inside functions, not under ``TYPE_CHECKING``) form no
cycle; implicit imports of parent packages are not edges.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = {
    "hive_middleware": ROOT / "hive_middleware",
    "hive_middleware.adapters": ROOT / "adapters",
    "hive_middleware.integrations": ROOT / "integrations",
}

# Most specific prefix first.
_LAYER_PREFIXES = (
    ("hive_middleware.evals", "evals"),
    ("hive_middleware.cli", "cli"),
    ("hive_middleware.testing", "testing"),
    ("hive_middleware.adapters", "adapters"),
    ("hive_middleware.integrations", "integrations"),
    ("hive_middleware", "core"),
)
_ALL = frozenset({"core", "testing", "adapters", "integrations", "evals", "cli"})
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "testing": frozenset({"core", "testing"}),
    "adapters": frozenset({"core", "testing", "adapters"}),
    "integrations": frozenset({"core", "testing", "adapters", "integrations"}),
    "evals": _ALL - {"cli"},
    "cli": _ALL,
}

ALLOWED_DYNAMIC: dict[str, tuple[str, ...]] = {
    "hive_middleware.memory.backends": ("hive_middleware.adapters", "hive_middleware.testing.memory"),
    "hive_middleware": ("hive_middleware.integrations.decorator",),
    "hive_middleware.resilience.shared": ("hive_middleware.adapters",),
    "hive_middleware.hivemind.wiring": ("hive_middleware.adapters",),
}
"""Module -> the module prefixes it may name in strings across layers (see the module docstring)."""

_MODULE_PATH = re.compile(r"hive_middleware(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?")
_DYNAMIC_IMPORTERS = frozenset({"import_module", "__import__"})


@dataclass(frozen=True)
class Module:
    """One source file and its dotted name."""

    name: str
    path: Path
    is_package: bool

    @property
    def layer(self) -> str:
        return layer_of(self.name)


def layer_of(name: str) -> str:
    """The layer of a dotted name inside ``hive_middleware`` (a module or a name in one)."""
    for prefix, layer in _LAYER_PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            return layer
    raise ValueError(f"{name} is outside hive_middleware")


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def discover(source_dirs: Mapping[str, Path] = SOURCE_DIRS) -> list[Module]:
    """Every module of the installed namespace, named as it is imported."""
    found = []
    for package, folder in source_dirs.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found.append(Module(".".join([package, *parts]), path, is_package))
    return found


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


@dataclass(frozen=True)
class Reference:
    """One dependency of a module on a ``hive_middleware`` name."""

    target: str
    line: int
    how: str  # "import" (a statement or an importlib call with a literal) or "string"


def references(module: str, is_package: bool, source: str) -> Iterator[Reference]:
    """Every ``hive_middleware`` name ``source`` imports or names, anywhere in the module."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Reference(alias.name, node.lineno, "import")
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve_relative(module, is_package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            for alias in node.names:
                yield Reference(f"{base}.{alias.name}", node.lineno, "import")
        elif isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            first = node.args[0] if node.args else None
            if (
                called in _DYNAMIC_IMPORTERS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                yield Reference(first.value, node.lineno, "import")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _MODULE_PATH.fullmatch(node.value)
        ):
            yield Reference(node.value.partition(":")[0], node.lineno, "string")


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """The layer rules ``source`` (the text of ``module``) breaks, one line each."""
    layer = layer_of(module)
    allowed_strings = ALLOWED_DYNAMIC.get(module, ())
    found = []
    for ref in references(module, is_package, source):
        if not _within(ref.target, "hive_middleware"):
            continue
        target_layer = layer_of(ref.target)
        if target_layer in MAY_IMPORT[layer]:
            continue
        if ref.how == "string" and any(_within(ref.target, p) for p in allowed_strings):
            continue
        verb = "imports" if ref.how == "import" else "names (dynamic import)"
        found.append(f"{module}:{ref.line} ({layer}) {verb} {ref.target} ({target_layer})")
    return found


def test_every_module_respects_the_layers() -> None:
    modules = discover()
    assert {m.layer for m in modules} == _ALL, (
        "a layer has no module: is the source tree where the test expects?"
    )
    broken = [v for m in modules for v in violations(m.name, m.path.read_text(), is_package=m.is_package)]
    assert not broken, "layer violations (see tests/packaging/test_layers.py):\n" + "\n".join(broken)


def test_allowed_dynamic_references_are_still_needed() -> None:
    modules = {m.name: m for m in discover()}
    for name, prefixes in ALLOWED_DYNAMIC.items():
        assert name in modules, f"ALLOWED_DYNAMIC names {name}, which no longer exists"
        m = modules[name]
        used = {
            p
            for ref in references(name, m.is_package, m.path.read_text())
            if ref.how == "string"
            for p in prefixes
            if _within(ref.target, p)
        }
        assert used == set(prefixes), (
            f"{name} no longer names {sorted(set(prefixes) - used)}: drop the allowance"
        )


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("hive_middleware.routing.features", "from hive_middleware.evals.actions import action_type\n"),
        ("hive_middleware.routing.train", "def f():\n    from hive_middleware.evals import route_eval\n"),
        (
            "hive_middleware.memory.store",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hive_middleware.adapters.chroma import X\n",
        ),
        ("hive_middleware.stats", "from hive_middleware import cli\n"),
        ("hive_middleware.routing.features", "from ..evals import report\n"),
        ("hive_middleware.memory.store", "from ..integrations import langgraph\n"),
        ("hive_middleware.types", "import hive_middleware.testing.memory\n"),
        (
            "hive_middleware.memory.store",
            "import importlib\nimportlib.import_module('hive_middleware.adapters.chroma')\n",
        ),
        (
            "hive_middleware.memory.records",
            "TABLE = {'chroma': 'hive_middleware.adapters.chroma:ChromaVectorIndex'}\n",
        ),
        ("hive_middleware.memory.backends", "X = 'hive_middleware.integrations.decorator:agent'\n"),
        (
            "hive_middleware.integrations.demo_replay",
            "from hive_middleware.evals.report import write_report\n",
        ),
        (
            "hive_middleware.integrations.litellm",
            "class C:\n    def m(self):\n        import hive_middleware.cli.main\n",
        ),
        ("hive_middleware.adapters.chroma", "from hive_middleware.integrations.session import HiveSession\n"),
        ("hive_middleware.adapters.sqlite_graph", "from hive_middleware.evals import report\n"),
        ("hive_middleware.testing.memory", "from hive_middleware.adapters import chroma\n"),
        ("hive_middleware.evals.route_eval", "from hive_middleware.cli.app import app\n"),
    ],
)
def test_a_forbidden_import_is_caught(module: str, source: str) -> None:
    assert violations(module, source), f"{module} should not be allowed: {source!r}"


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("hive_middleware.routing.train", "from hive_middleware.routing.split import is_held_out\n"),
        ("hive_middleware.routing.train", "from .split import is_held_out\nfrom .. import stats\n"),
        (
            "hive_middleware.memory.backends",
            "T = {'sqlite': 'hive_middleware.adapters.sqlite_graph:SQLiteGraphStore'}\n",
        ),
        ("hive_middleware", "_LAZY = {'agent': 'hive_middleware.integrations.decorator'}\n"),
        ("hive_middleware.memory.store", '"""Docs may mention ``hive_middleware.adapters`` in prose."""\n'),
        ("hive_middleware.integrations.demo_replay", "from hive_middleware.testing.chat_models import M\n"),
        (
            "hive_middleware.integrations.litellm",
            "import logging\nlog = logging.getLogger('hive_middleware.integrations')\n",
        ),
        ("hive_middleware.adapters.chroma", "from hive_middleware.testing.memory import HashingEmbedder\n"),
        ("hive_middleware.evals.engine_retriever", "from hive_middleware.memory.store import MemoryStore\n"),
        ("hive_middleware.cli.router", "from hive_middleware.evals.route_eval import run_route_eval\n"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert violations(module, source) == []


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_nodes(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (not in functions or TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_nodes(node.body)
            yield from _import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _import_time_nodes(block)
            for handler in node.handlers:
                yield from _import_time_nodes(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _import_time_nodes(node.body)


def import_graph(modules: list[Module]) -> dict[str, set[str]]:
    """Module -> the ``hive_middleware`` modules its top-level imports load directly."""
    known = {m.name for m in modules}
    graph: dict[str, set[str]] = {}
    for m in modules:
        edges: set[str] = set()
        for node in _import_time_nodes(ast.parse(m.path.read_text()).body):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in known)
                continue
            base = (
                _resolve_relative(m.name, m.is_package, node.level, node.module)
                if node.level
                else node.module
            )
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    edges.add(sub)
                elif base in known:
                    edges.add(str(base))
        edges.discard(m.name)
        graph[m.name] = edges
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_at_module_level() -> None:
    found = cycles(import_graph(discover()))
    assert not found, "import cycles among top-level imports:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_cycle_finder_self_check() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_top_level_imports_skip_functions_and_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "hive_middleware"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "store.py").write_text("from hive_middleware import extract\n")
    (pkg / "extract.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from hive_middleware.store import Store\n"
        "def f():\n    from hive_middleware.store import Store\n"
    )
    (pkg / "kinds.py").write_text("try:\n    from .store import Store\nexcept ImportError:\n    pass\n")
    modules = discover({"hive_middleware": pkg})
    graph = import_graph(modules)
    assert graph["hive_middleware.store"] == {"hive_middleware.extract"}
    assert graph["hive_middleware.extract"] == set()
    assert graph["hive_middleware.kinds"] == {"hive_middleware.store"}
    (pkg / "extract.py").write_text("from hive_middleware.store import Store\n")
    assert cycles(import_graph(discover({"hive_middleware": pkg}))) == [
        ["hive_middleware.extract", "hive_middleware.store"]
    ]
