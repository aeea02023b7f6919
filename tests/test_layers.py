"""The one-way layers of docs/architecture.md, checked on the source: no CLI imports, no upward imports, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "interp"
BASE = ("interp.models", "interp.hooks", "interp.datasets", "interp.io", "interp.runs")
ANALYSES = ("interp.sae", "interp.probes", "interp.circuits", "interp.sinks", "interp.viz", "interp.graphs",
            "interp.transcoders")


def sources() -> dict[str, str]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path.read_text()
    return out


def imports(module: str, source: str) -> set[str]:
    """Every interp module ``module`` imports, at top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative import
                base = ".".join(module.split(".")[: -node.level] + [node.module])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m == "interp" or m.startswith("interp.")}


def is_cli(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in ("cli", "dashboard_cli", "__main__")


def unit(module: str) -> str:
    """The layer unit: a package (interp.sae) or a top-level module (interp.runs)."""
    return ".".join(module.split(".")[:2])


def violations(srcs: dict[str, str]) -> list[str]:
    known = set(srcs)
    bad = []
    graph: dict[str, set[str]] = {}
    for mod, src in srcs.items():
        deps = {d for d in imports(mod, src) if d in known}
        for d in deps:
            if is_cli(d) and not is_cli(mod):
                bad.append(f"library module {mod} imports the CLI module {d}")
            if mod.startswith(BASE) and d.startswith(ANALYSES):
                bad.append(f"{mod} (base layer) imports the analysis module {d}")
        if not is_cli(mod) and unit(mod) != "interp.demo":
            graph.setdefault(unit(mod), set()).update(unit(d) for d in deps
                                                      if not is_cli(d) and unit(d) not in (unit(mod), "interp"))
    bad += [f"import cycle between packages: {' -> '.join(c)}" for c in cycles(graph)]
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected part of ``graph`` that has more than one node."""
    out, seen = [], set()
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start and frozenset(path) not in seen:
                    seen.add(frozenset(path))
                    out.append(path + [start])
                elif nxt not in path and nxt > start:
                    stack.append((nxt, path + [nxt]))
    return out


def test_layers_point_one_way():
    assert violations(sources()) == []


@pytest.mark.parametrize("module, line", [
    ("interp.circuits.ablation", "from interp.sae.cli import open_sae"),
    ("interp.demo", "from interp.cli import capture_from_config"),
    ("interp.circuits.induction_circuit", "from interp.circuits.cli import report"),
    ("interp.models.training.induction", "from interp.circuits.head_scores import induction_score"),
    ("interp.hooks.capturing", "import interp.sae.trainer"),
    ("interp.runs", "    from interp.viz import base"),
])
def test_the_rule_catches_each_old_shortcut(module, line):
    """Each of the layering shortcuts the refactor removed, put back, is caught."""
    srcs = sources()
    srcs[module] = srcs[module] + f"\n\ndef _f():\n    {line.strip()}\n"
    assert violations(srcs), f"{line!r} in {module} went unnoticed"


def test_a_cycle_between_analysis_packages_is_caught():
    srcs = sources()
    srcs["interp.sae.features"] += "\nfrom interp.probes.data import make_split\n"
    srcs["interp.probes.base"] += "\nfrom interp.sae.features import compute_features\n"
    assert any("cycle" in v and "interp.sae" in v and "interp.probes" in v for v in violations(srcs))


if __name__ == "__main__":  # python tests/test_layers.py [path/to/interp]: list what breaks the rules there
    import sys

    if len(sys.argv) > 1:
        ROOT = Path(sys.argv[1]).resolve()
    found = violations(sources())
    print("\n".join(found) or "no violations")
