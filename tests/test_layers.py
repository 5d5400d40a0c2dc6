"""The package's layers, read from the source (every import, lazy ones included):

    cli, __main__, commands/   the front ends: the CLI (parses flags, prints one line per error)
    blender_coco/__init__.py   and the add-on's register()/unregister()
        |
    blender/                   the render stage and the add-on (the only code that imports bpy)
        |
    core                       everything else: coco/, records/, config, errors, files, ...

An arrow points down only: the core never imports blender/ or the front end, blender/
never imports the front end, and no two modules import each other, directly or
through others (import cycles).
"""

from __future__ import annotations

import ast
from pathlib import Path

import blender_coco

PACKAGE = Path(blender_coco.__file__).resolve().parent
FRONT, BLENDER, CORE = 2, 1, 0


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """blender_coco modules that ``name`` imports (any import statement, at any depth)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        for target in targets:
            # the deepest known module named by the import ("from pkg import mod" names pkg.mod)
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def layer(name: str) -> int:
    if name in ("blender_coco", "blender_coco.cli", "blender_coco.__main__") or name.startswith("blender_coco.commands"):
        return FRONT
    if name.startswith("blender_coco.blender"):
        return BLENDER
    return CORE


def _is_package_init(name: str, target: str) -> bool:
    # a module's own package __init__ runs when it is imported; that is no dependency
    return name.startswith(target + ".")


def test_the_graph_sees_the_packages_modules_and_their_imports():
    graph = _graph()
    assert {"blender_coco.cli", "blender_coco.coco.instances", "blender_coco.blender.pipeline",
            "blender_coco.commands.render"} <= set(graph)
    assert "blender_coco.blender.pipeline" in graph["blender_coco.commands.render"] | graph["blender_coco.blender.session"]
    assert "blender_coco.errors" in graph["blender_coco.config"]


def test_imports_point_down_the_layers_only():
    names = {FRONT: "a front end", BLENDER: "blender/", CORE: "the core"}
    wrong = sorted(f"{name} ({names[layer(name)]}) imports {target} ({names[layer(target)]})"
                   for name, targets in _graph().items() for target in targets
                   if layer(target) > layer(name) and not _is_package_init(name, target))
    assert wrong == []


def test_no_import_cycles():
    graph = {n: {t for t in ts if not _is_package_init(n, t) and not _is_package_init(t, n)} for n, ts in _graph().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []
