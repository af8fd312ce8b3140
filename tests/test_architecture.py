"""The package's layers: a lower layer never imports a higher one, modules stay small."""

import ast

import pytest
from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "tfrec"
# Lowest first. Top-level helpers (errors, atomic, the package itself) are below everything.
LAYERS = ["schema", "data", "model", "recommenders", "evaluation", "serving", "cli"]
MAX_LINES = 350
# The package root re-exports the schema and errors; ``python -m tfrec`` runs the CLI.
ENTRY_POINTS = ("tfrec", "tfrec.__main__")


def layer(module: str) -> int:
    """Layer index of a dotted tfrec module (-1 for the shared helpers)."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else -1


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(("tfrec",) + path.relative_to(PACKAGE).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


def imported(path):
    """Every tfrec module a file imports, at the top or inside functions (lazy imports count)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfrec"):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("tfrec"))


@pytest.mark.parametrize("name,path", list(modules()), ids=lambda v: str(v).split("/")[-1])
def test_no_module_imports_a_higher_layer(name, path):
    if name in ENTRY_POINTS:
        return
    upward = [m for m in imported(path) if layer(m) > layer(name)]
    assert not upward, f"{name} (layer {LAYERS[layer(name)] if layer(name) >= 0 else 'base'}) imports {upward}"


def test_data_imports_nothing_from_model_or_evaluation():
    for name, path in modules():
        if name.startswith("tfrec.data"):
            assert not [m for m in imported(path) if m.startswith(("tfrec.model", "tfrec.evaluation"))], name


def test_modules_have_one_job_and_stay_small():
    long = {name: n for name, path in modules() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_layer_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from tfrec.model.fit import train\n")
    assert [m for m in imported(bad) if layer(m) > layer("tfrec.data.bad")] == ["tfrec.model.fit"]
