"""The layering of al_core's packages, as docs/architecture.md draws it, kept true.

Every import in al_core/**.py counts, at any depth (inside functions too: a lazy import
that only defers torch is fine, but it must still respect the layering), except those
under ``if TYPE_CHECKING:``. An import against :data:`ALLOWED`, or a cycle between
packages, fails with the file and line of each offending import."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AL_CORE = ROOT / "al_core"

BASE = "(root)"  # al_core/types.py, names.py, clock.py: the shared vocabulary
# package -> the packages right below it in the drawing of docs/architecture.md. A
# package may import those and everything below them (ALLOWED, the closure); itself too.
BELOW: dict[str, set[str]] = {
    BASE: set(),
    "store": {BASE},
    "team": {"store"},
    "jobs": {"store"},
    "formats": {"store"},
    "evaluation": {"store"},
    "training": {"evaluation", "formats", "jobs"},
    "query": {"training"},
    "review": {"query"},
    "decide": {"training"},
    "simulation": {"decide", "review"},
    "cli": {"simulation", "team"},
}


def _closure(below: dict[str, set[str]]) -> dict[str, set[str]]:
    def reach(name: str) -> set[str]:
        return set().union(*({b} | reach(b) for b in below[name])) if below[name] else set()
    return {name: reach(name) for name in below}


ALLOWED = _closure(BELOW)
# the package's own front doors: al_core/__init__.py re-exports the user's entry points
# lazily (by name, importlib), __main__.py runs the CLI
ENTRY: dict[str, set[str] | None] = {"__init__": None, "__main__": {"cli"}}


def package_of(module: str) -> str | None:
    """'al_core.training.loop' -> 'training'; 'al_core.types' -> BASE; None outside."""
    parts = module.split(".")
    if parts[0] != "al_core":
        return None
    if len(parts) == 1:
        return "al_core"  # the package root itself (its lazy entry points)
    if (AL_CORE / parts[1]).is_dir():
        return parts[1]
    if (AL_CORE / f"{parts[1]}.py").is_file():
        return BASE
    return "al_core"  # a name the root re-exports


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every al_core import in the file; ``from al_core
    import x`` names the module ``al_core.x``."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_nodes(tree)
    here = list(path.relative_to(ROOT).with_suffix("").parts[:-1])  # its package
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = here[:len(here) - (node.level - 1)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            if base == "al_core":
                found += [(node.lineno, f"al_core.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, m) for line, m in found if m.split(".")[0] == "al_core"]


def source_package(path: Path) -> str:
    rel = path.relative_to(AL_CORE)
    if len(rel.parts) == 1:
        return rel.stem if rel.stem in ENTRY else BASE
    return rel.parts[0]


def package_imports() -> dict[tuple[str, str], list[str]]:
    """(from package, to package) -> ['file:line imports module', ...]."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(AL_CORE.rglob("*.py")):
        src = source_package(path)
        for line, module in imports_of(path):
            dst = package_of(module)
            if dst is not None and dst != src:
                where = f"{path.relative_to(ROOT)}:{line} imports {module}"
                edges.setdefault((src, dst), []).append(where)
    return edges


def layering_errors(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    errors = []
    for (src, dst), where in sorted(edges.items()):
        if src == "__init__":
            continue  # the root's lazy entry points may name any package
        allowed = ENTRY[src] if src in ENTRY else ALLOWED.get(src)
        if allowed is None:
            errors.append(f"package {src!r} is not in the layering table: {where[0]}")
        elif dst not in allowed:
            errors += [f"{src} may not import {dst}: {w}" for w in where]
    return errors


def cycles(edges) -> list[list[str]]:
    """Every cycle among packages (as a list of packages, first repeated at the end)."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    found, seen = [], set()

    def walk(node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycle = path[path.index(nxt):] + [nxt]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append(cycle)
            else:
                walk(nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_every_import_follows_the_layering():
    errors = layering_errors(package_imports())
    assert not errors, "imports against the layering (docs/architecture.md):\n" + \
        "\n".join(errors)


def test_no_import_cycle_between_packages():
    edges = package_imports()
    found = cycles(edges)
    detail = [" -> ".join(c) + ":\n    " + "\n    ".join(
        w for a, b in zip(c, c[1:]) for w in edges[(a, b)]) for c in found]
    assert not found, "import cycles between packages:\n" + "\n".join(detail)


def test_the_table_itself_has_no_cycle():
    assert not cycles({(a, b): [] for a, below in BELOW.items() for b in below})


def test_every_package_is_in_the_table_and_says_what_it_may_import():
    packages = {p.name for p in AL_CORE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(ALLOWED) - {BASE}
    for name in packages:
        doc = ast.get_docstring(ast.parse((AL_CORE / name / "__init__.py").read_text()))
        assert doc and "May import:" in doc, f"al_core/{name}/__init__.py"


def test_the_architecture_page_states_the_same_table():
    """docs/architecture.md's allowed-imports table names, for each package, the packages
    of ALLOWED (a row ``| `al_core.x` | `a`, `b` |``); the drawing is checked by eye."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = {}
    for line in text.split("## Allowed imports", 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and cells[0].startswith("`"):
            name = cells[0].strip("`").removeprefix("al_core.")
            rows[BASE if name.startswith("root") else name] = {
                BASE if c.strip().strip("`").startswith("root") else c.strip().strip("`")
                for c in cells[1].split(",") if c.strip() not in ("", "nothing", "-")}
    assert rows == ALLOWED


def test_a_planted_upward_import_is_caught():
    """The checker itself: an upward import (store -> training), planted among the real
    imports, is reported, and so is the cycle it makes."""
    edges = package_imports()
    planted = {**edges, ("store", "training"): ["al_core/store/core.py:1 imports "
                                                "al_core.training.config"]}
    assert any("store may not import training" in e for e in layering_errors(planted))
    assert any(c[0] in {"store", "training"} for c in cycles(planted))


def test_importing_al_core_loads_neither_torch_nor_streamlit():
    code = ("import sys, al_core; assert al_core.Store and al_core.QuerySpec; "
            "print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_entry_points_are_importable_from_the_root():
    import al_core

    for name in al_core.__all__:
        assert getattr(al_core, name).__name__ == name


def test_run_job_registers_every_job_kind():
    from al_core.cli import job_kinds  # noqa: F401
    from al_core.jobs.runner import JOB_KINDS, KINDS

    assert set(JOB_KINDS) <= set(KINDS)
