"""The package map holds: imports point one way (docs/architecture.md), with no circle.

Every ``import`` of grammarflow's own modules counts — at the top of a module or inside a
function (a lazy import is still a dependency) — except those under ``if TYPE_CHECKING:``,
which only name types for the type checker and never run. The root package is no
dependency: Python loads it before any module of it, and it imports nothing itself (its
public names are loaded lazily, on first use).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "grammarflow"

#: Each layer may import its own and the layers below it, never one above. Within a
#: layer, only modules of the same package import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("grammarflow.errors",),
    ("grammarflow.wire",),
    ("grammarflow.task", "grammarflow.gather"),
    ("grammarflow.core",),
    ("grammarflow.workflow",),
    ("grammarflow.journal",),
    ("grammarflow.runtime", "grammarflow.picture"),
    ("grammarflow.web", "grammarflow.formats"),  # serve; other tools' formats
    ("grammarflow",),  # the public API, the command line, the strategies for users
)
#: The task SDK runs inside every task: it imports nothing of the rest but itself.
SDK = {"grammarflow.wire", "grammarflow.task", "grammarflow.gather"}
ROOT = "grammarflow"


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package under ``package``."""
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def imported(tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``tree`` imports anywhere it may run."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.stmt) and _is_type_checking(node):
            for child in node.orelse:  # `else:` of `if TYPE_CHECKING` runs
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # a submodule, else a name of the module itself
                sub = f"{node.module}.{alias.name}"
                found.update({sub} if sub in known else {node.module} & known)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(package: Path) -> nx.DiGraph:
    names = module_names(package)
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for name, path in names.items():
        for target in imported(ast.parse(path.read_text(encoding="utf-8")), set(names)):
            if target not in (name, ROOT):
                graph.add_edge(name, target)
    return graph


def home(module: str) -> tuple[int, str]:
    """The layer of a module and the package of it that the layer names."""
    best: tuple[int, str] | None = None
    for rank, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and (
                    best is None or len(prefix) > len(best[1])):
                best = (rank, prefix)
    assert best is not None, f"module {module} is in no layer of the package map"
    return best


def problems(graph: nx.DiGraph) -> list[str]:
    """Every import circle and every import that points up or sideways."""
    found = []
    for cycle in nx.simple_cycles(graph):
        first = cycle.index(min(cycle))  # each circle said once, from its least module
        cycle = [*cycle[first:], *cycle[:first], cycle[first]]
        found.append(f"import circle: {' -> '.join(cycle)}")
    for source, target in sorted(graph.edges):
        (rank, package), (to_rank, to_package) = home(source), home(target)
        if to_rank > rank or (to_rank == rank and to_package != package):
            found.append(f"{source} imports {target}, a layer above or beside it")
        if source in SDK and target not in SDK:
            found.append(f"{source} is the task SDK and imports {target}")
    return found


def test_imports_point_one_way_with_no_circle() -> None:
    graph = import_graph(PACKAGE)
    assert graph.number_of_nodes() > 50 and graph.number_of_edges() > 100
    assert problems(graph) == []


def test_a_circle_a_lazy_import_hides_or_an_upward_import_is_found(tmp_path: Path) -> None:
    # The checker itself bites: a core module importing the journal inside a function,
    # two core modules importing each other, and the SDK importing the core are all
    # named; an import under TYPE_CHECKING is not.
    package = tmp_path / "grammarflow"
    for folder in ("core", "journal"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text("from grammarflow.core import a\n")
    (package / "core" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nfrom grammarflow.core import b\n"
        "if TYPE_CHECKING:\n    from grammarflow.journal import store\n")
    (package / "core" / "b.py").write_text(
        "def f():\n    from grammarflow.core.a import x\n"
        "    from grammarflow.journal import store\n")
    (package / "journal" / "store.py").write_text("import grammarflow.core.a\n")
    assert sorted(problems(import_graph(package))) == [
        "grammarflow.core.b imports grammarflow.journal.store, a layer above or beside it",
        "grammarflow.task imports grammarflow.core.a, a layer above or beside it",
        "grammarflow.task is the task SDK and imports grammarflow.core.a",
        "import circle: grammarflow.core.a -> grammarflow.core.b -> grammarflow.core.a",
        "import circle: grammarflow.core.a -> grammarflow.core.b -> grammarflow.journal.store"
        " -> grammarflow.core.a",
    ]


def _public(tree: ast.Module) -> list[str] | None:
    """The names a module's ``__all__`` lists (None: it has none)."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                assert node.value is not None
                return list(ast.literal_eval(node.value))
    return None


def test_every_module_says_what_it_offers() -> None:
    # Each module has `__all__`, and everything it lists is there (not a stale name).
    missing, stale = [], []
    for name, path in module_names(PACKAGE).items():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        listed = _public(tree)
        if listed is None:
            missing.append(name)
            continue
        module = importlib.import_module(name)
        stale += [f"{name}.{n}" for n in listed if not hasattr(module, n)]
    assert missing == [] and stale == []


#: The house rule (issue 27): a module a person can read, a class that does one job.
MODULE_LINES, CLASS_LINES = 600, 400


def test_no_module_or_class_outgrows_the_house() -> None:
    big = []
    for name, path in module_names(PACKAGE).items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MODULE_LINES:
            big.append(f"module {name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > CLASS_LINES:
                    big.append(f"class {name}.{node.name}: {lines} lines")
    assert big == []
