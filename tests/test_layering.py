"""The package's import graph: no cycles, dependencies point downwards through the layers.

The graph is read from the source with :mod:`ast` (nothing is imported): every ``import`` and
``from ... import`` of a ``neuron`` module, at module level and inside functions. Importing
``a.b.c`` also runs the packages ``a.b`` and ``a`` (their ``__init__``), so those are edges too,
unless the importer is itself inside that package. Imports under ``if TYPE_CHECKING:`` do not
run and are left out.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

# The layers, top first. A module may import modules of its own layer or of a lower one, never of
# a higher one. An entry names a module or a package (then it covers every module inside it);
# a module takes the layer of its longest matching entry. Some names are modules still to come.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # verify reruns committed runs through the pipeline: it sits beside the command line
    ("command line", ("neuron.__main__", "neuron.verify")),
    # predict and the notebooks' set-up run stages for one run, as the pipeline does; the kernel
    # manager is the pipeline's
    ("pipeline", ("neuron.pipeline", "neuron.predict", "neuron.notebook", "neuron.kernel")),
    ("stages", ("neuron.stages",)),
    ("stage work", ("neuron.train", "neuron.evaluate", "neuron.analysis", "neuron.study",
                    "neuron.summary", "neuron.reports", "neuron.stats")),
    ("models, data, side information", ("neuron.models", "neuron.data", "neuron.side_info",
                                        "neuron.text")),
    ("configuration", ("neuron.config", "neuron.manifest", "neuron.keys")),
    # io and errors, and the run-time helpers that import no other neuron module
    ("base", ("neuron.io", "neuron.errors", "neuron.accel", "neuron.allocator",
              "neuron.distributed", "neuron.progress")),
]

# Imports that break the layer order today, each with why it is still there. An entry that no
# longer occurs makes test_known_exceptions_still_occur fail, so the list only shrinks.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / "neuron").rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imported_names(node: ast.stmt, importer: str, is_package: bool, known: set[str]) -> list[str]:
    """Neuron modules one import statement runs (the named module or, for ``from X import y``,
    ``X.y`` when that is a module, else ``X``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            pkg = importer.split(".") if is_package else importer.split(".")[:-1]
            pkg = pkg[:len(pkg) - (node.level - 1)]
            base = ".".join(pkg + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    out = []
    for name in names:
        while name and name not in known:  # `import neuron.x.attr` style: the longest module
            name = name.rpartition(".")[0]
        if name.split(".")[0] == "neuron" and name:
            out.append(name)
    return out


def _walk(node: ast.AST, in_function: bool):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for sub in child.orelse:
                yield from _walk_stmt(sub, in_function)
            continue
        yield from _walk_stmt(child, in_function)


def _walk_stmt(node: ast.AST, in_function: bool):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, in_function
    yield from _walk(node, in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                             ast.Lambda)))


def import_graph(root: Path = ROOT) -> list[Import]:
    """Every import of a neuron module by a neuron module (with the packages it runs) in
    ``root/neuron``."""
    mods = modules(root)
    known = set(mods)
    edges = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in _walk(tree, False):
            for target in _imported_names(node, name, is_package, known):
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    t = ".".join(parts[:i])
                    # a package the importer is inside is already running; itself is no edge
                    if t == name or name.startswith(t + "."):
                        continue
                    edges.append(Import(name, t, node.lineno, in_function))
    return edges


def layer_of(module: str) -> int | None:
    best, best_len = None, -1
    for i, (_, entries) in enumerate(LAYERS):
        for e in entries:
            if (module == e or module.startswith(e + ".")) and len(e) > best_len:
                best, best_len = i, len(e)
    return best


def _reach(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A path start -> ... -> goal in ``graph`` (breadth first), or None."""
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for m in frontier:
            for t in sorted(graph.get(m, ())):
                if t not in prev:
                    prev[t] = m
                    if t == goal:
                        path = [t]
                        while prev[path[-1]] is not None:
                            path.append(prev[path[-1]])
                        return path[::-1]
                    nxt.append(t)
        frontier = nxt
    return None


def _graph(edges, module_level_only: bool) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for e in edges:
        if not (module_level_only and e.in_function):
            g.setdefault(e.importer, set()).add(e.target)
    return g


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return import_graph()


def test_the_graph_is_read(edges):
    """The reader finds imports of every kind (so the checks below can fail)."""
    found = {(e.importer, e.target, e.in_function) for e in edges}
    assert ("neuron.side_info.embed", "neuron.text", False) in found  # from X import y
    assert ("neuron.side_info.embed", "neuron.side_info.store", False) in found
    assert ("neuron.pipeline", "neuron.manifest", True) in found  # inside a function
    assert ("neuron.stages", "neuron.text", True) in found  # from neuron import text
    assert ("neuron.data.splits", "neuron.config", False) in found
    assert ("neuron.data.loader", "neuron.data", False) not in found  # own package: no edge
    assert layer_of("neuron.side_info.embed") == layer_of("neuron.text") == 4
    assert layer_of("neuron.nothing") is None


def test_every_module_has_a_layer():
    missing = [m for m in modules() if m != "neuron" and layer_of(m) is None]
    assert not missing, f"modules without a layer; add them to LAYERS in {__file__}: {missing}"


def cycles(edges: list[Import]) -> list[str]:
    """Import-time cycles (module-level imports only), each as ``a -> b -> a``."""
    g = _graph(edges, module_level_only=True)
    found = {tuple(p) for m in g for t in g[m] if (p := _reach(g, t, m))}
    return sorted(" -> ".join(p + (p[0],)) for p in found)


def cycle_dodges(edges: list[Import]) -> list[str]:
    """Function-level imports whose target imports the importer back (through any imports)."""
    g = _graph(edges, module_level_only=False)
    return sorted({f"{e.importer} line {e.line} imports {e.target}, which imports it back: "
                   f"{' -> '.join(back)}"
                   for e in edges if e.in_function and (back := _reach(g, e.target, e.importer))})


def upward_imports(edges: list[Import]) -> list[str]:
    """Imports of a module in a higher layer than the importer's (known exceptions left out)."""
    upward = set()
    for e in edges:
        a, b = layer_of(e.importer), layer_of(e.target)
        if a is None or b is None or b >= a or (e.importer, e.target) in KNOWN_EXCEPTIONS:
            continue
        upward.add(f"{e.importer} ({LAYERS[a][0]}) line {e.line} imports {e.target} "
                   f"({LAYERS[b][0]})")
    return sorted(upward)


def test_no_import_cycles(edges):
    """No module imports (through others) a module that imports it, at import time."""
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(found)


def test_no_function_level_import_dodges_a_cycle(edges):
    """An import inside a function must not be one that would make a cycle at module level."""
    found = cycle_dodges(edges)
    assert not found, "function-level imports that hide a cycle:\n" + "\n".join(found)


def test_dependencies_point_downwards(edges):
    found = upward_imports(edges)
    assert not found, "imports against the layer order:\n" + "\n".join(found)


def test_the_checks_catch_a_bad_package(tmp_path):
    """A made-up package with a cycle, a hidden cycle and an upward import fails every check."""
    files = {
        "__init__.py": "",
        "io.py": "from neuron import errors\n",
        "errors.py": "import neuron.io\n",  # cycle io <-> errors at import time
        "text.py": "def f():\n    from neuron.side_info import store\n",
        "side_info/__init__.py": "",
        "side_info/store.py": "from .. import text\n",  # hidden cycle text -> store -> text
        "config.py": "def g():\n    from neuron.stages import h\n",  # upward, in a function
        "stages.py": "from neuron.config import x\nif TYPE_CHECKING:\n    import neuron.pipeline\n",
    }
    for rel, src in files.items():
        (tmp_path / "neuron" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "neuron" / rel).write_text(src)
    bad = import_graph(tmp_path)
    assert cycles(bad) == ["neuron.errors -> neuron.io -> neuron.errors",
                           "neuron.io -> neuron.errors -> neuron.io"]
    assert [d.split(",")[0] for d in cycle_dodges(bad)] == [
        "neuron.config line 2 imports neuron.stages",  # stages imports config: hidden cycle too
        "neuron.text line 2 imports neuron.side_info.store"]  # not the (empty) package
    assert upward_imports(bad) == ["neuron.config (configuration) line 2 imports neuron.stages "
                                   "(stages)"]
    assert not any(e.target == "neuron.pipeline" for e in bad)  # TYPE_CHECKING only


def test_known_exceptions_still_occur(edges):
    found = {(e.importer, e.target) for e in edges}
    gone = [k for k in KNOWN_EXCEPTIONS if k not in found]
    assert not gone, f"remove these from KNOWN_EXCEPTIONS, they no longer occur: {gone}"
