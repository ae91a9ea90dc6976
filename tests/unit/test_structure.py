"""The layout's rules, enforced: no import cycle between modules of cds, no module over 400
lines, no function over 60 (docs/architecture.md says why). ruff enforces who may import
durable-rules and Flask and who may read the environment (pyproject.toml, banned-api)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.common.paths import ROOT

PACKAGE = ROOT / "cds"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The cds modules `name` imports, at any level of the file (type-checking blocks too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    # a package's __init__ importing its own modules is how a package exports: not a cycle
    return {
        name: {t for t in imports_of(name, path, known) if not t.startswith(name + ".")} for name, path in mods.items()
    }


def test_no_module_of_cds_takes_part_in_an_import_cycle():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()) or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_core_imports_neither_the_web_nor_cds_hooks():
    for name, targets in graph().items():
        if name.startswith("cds.triage"):
            assert not {t for t in targets if t.startswith(("cds.web", "cds.hooks", "cds.settings"))}, name


def test_no_module_is_over_400_lines():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            long[str(path.relative_to(ROOT))] = lines
    assert not long, long


def test_no_function_is_over_60_lines():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = length
    assert not long, long


# Who may import what (ruff's banned-api enforces the same with one code for every name; this
# holds each package to exactly its own allowance).
ALLOWED = {
    "durable_rules_engine": ("cds.triage.engine",),
    "durable": ("cds.triage.engine",),
    "flask": ("cds.web", "cds.hooks"),
    "werkzeug": ("cds.web", "cds.hooks"),
    "gunicorn": ("cds.web.worker",),
    "redis": ("cds.hooks.replay",),
}


def third_party_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_each_package_imports_only_what_it_is_allowed():
    for name, path in modules().items():
        for module, allowed in ALLOWED.items():
            if module in third_party_imports(path):
                assert name.startswith(allowed) and allowed, f"{name} imports {module}"


def test_only_settings_reads_the_environment():
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if name != "cds.settings":
            assert "os.environ" not in text and "getenv" not in text, name
