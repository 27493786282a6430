"""pipeline/'s sub-packages import one way: settings <- steps <- spark <- flow <- airflow <- cli.

A module may import its own sub-package and the ones before it, never one after it, so that the
engine-independent steps never depend on a target, and nothing but the CLI depends on Airflow."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
LAYERS = ("settings", "steps", "spark", "flow", "airflow", "cli")


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "pipeline" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_module_sits_in_a_layer() -> None:
    loose = sorted(
        p.name for p in PIPELINE.glob("*.py") if p.stem not in {"__init__", "__main__", *LAYERS}
    )
    assert loose == [], f"pipeline/ modules outside a sub-package: {loose}"


def test_imports_run_one_way() -> None:
    wrong = []
    for path in PIPELINE.rglob("*.py"):
        own = layer_of("pipeline." + ".".join(path.relative_to(PIPELINE).with_suffix("").parts))
        if own is None:
            continue
        for module in imported_modules(path):
            other = layer_of(module)
            if other is not None and other > own:
                wrong.append(f"{path.relative_to(PIPELINE)} imports {module}")
    assert wrong == [], (
        "imports against the layers " + " <- ".join(LAYERS) + ":\n" + "\n".join(sorted(wrong))
    )
