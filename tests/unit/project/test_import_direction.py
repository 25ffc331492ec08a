"""Imports run one way: orchestration -> assets -> cartwh / expectations (plain logic), and in a
circle nowhere. Read from the source (ast), so a lazy import inside a function counts as much as
one at the top: a function-local import may keep a module light, never hide a cycle. What a fresh
interpreter imports with the code location: tests/e2e/test_import_direction.py."""

import ast
from pathlib import Path

from tests.paths import ROOT

PACKAGES = ("cartwh", "assets", "orchestration", "expectations")

# What each package (or module, by its dotted prefix) must not import, and why nothing else is
# forbidden: orchestration may import all. The benchmark (bench/) is not part of the product.
FORBIDDEN = {
    "cartwh": {"assets", "orchestration", "bench"},
    "expectations": {"assets", "orchestration", "bench"},
    "assets": {"orchestration", "bench"},
    "orchestration": {"bench"},
    # The data-quality pages and the study report read what ingestion recorded (the raw layer's
    # bookkeeping, cartwh.warehouse), never the loader itself.
    "cartwh.quality": {"cartwh.ingest"},
    "cartwh.report": {"cartwh.ingest"},
}
# The command line sits above the code location (`cartwh run` runs the main job, as `dagster` would):
# the one package of cartwh/ allowed to import orchestration.
ENTRY_POINTS = ("cartwh/cli/",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, module: str = "") -> set[str]:
    """Every name `path` (the module `module`) imports, dotted (`from a.b import c` gives a.b.c:
    the module a.b.c, or the name c of the module a.b), relative imports resolved against the
    module's package. A package's face, run before any of its modules, is not counted as imported
    by them."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            source = ".".join(p for p in (base, node.module or "") if p)
            names |= {f"{source}.{alias.name}" for alias in node.names}
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _our_modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def upward_imports() -> list[str]:
    found = []
    for name, path in _our_modules().items():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(ENTRY_POINTS):
            continue
        imported = _imported(path, name)
        for owner, forbidden in FORBIDDEN.items():
            if _within(name, owner):
                found += [
                    f"{relative} imports {target}"
                    for target in sorted(forbidden)
                    if any(_within(i, target) for i in imported)
                ]
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of `modules` it imports (a name that is not a module, an imported
    function or class, counts as its module)."""
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imported(path, name):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's strongly connected
    components of two or more), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_module_imports_upward():
    assert upward_imports() == []


def test_no_import_cycle():
    assert cycles(import_graph(_our_modules())) == []


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from orchestration.run import run_main_job\nimport assets.resources\n")
    assert {name.split(".")[0] for name in _imported(module)} == {"orchestration", "assets"}


def test_the_check_sees_a_cycle_held_apart_by_a_lazy_import(tmp_path):
    (tmp_path / "a.py").write_text("from b import g\n")
    (tmp_path / "b.py").write_text("def g():\n    from a import f\n")
    (tmp_path / "c.py").write_text("import a\n")
    modules = {name: tmp_path / f"{name}.py" for name in "abc"}
    assert cycles(import_graph(modules)) == [["a", "b"]]
