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
    bad.write_text("def f():\n    from tfrec.model.training.fit import train\n")
    assert [m for m in imported(bad) if layer(m) > layer("tfrec.data.bad")] == ["tfrec.model.training.fit"]


# The model's sub-packages, lowest first; its top-level modules (config, config_check) are "config".
MODEL_LAYERS = ["config", "features", "network", "training"]
# Facades: the package faces re-export by name (tfrec.model imports its parts lazily).
FACADES = ("tfrec", "tfrec.model")


def model_layer(module: str) -> int | None:
    """Index of a ``tfrec.model`` module's sub-package (``None`` outside the model)."""
    parts = module.split(".")
    if parts[:2] != ["tfrec", "model"] or len(parts) < 3:
        return None
    return MODEL_LAYERS.index(parts[2]) if parts[2] in MODEL_LAYERS else 0


@pytest.mark.parametrize("name,path", [(n, p) for n, p in modules() if model_layer(n) is not None],
                         ids=lambda v: str(v).split("tfrec/")[-1])
def test_no_model_module_imports_a_higher_sub_package(name, path):
    upward = [m for m in imported(path) if (model_layer(m) or 0) > model_layer(name)]
    assert not upward, f"{name} ({MODEL_LAYERS[model_layer(name)]}) imports {upward}"


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of a module graph (one per strongly connected component of 2+ modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_loop_not_even_for_annotations():
    names = {name for name, _ in modules()}
    graph = {name: {m for m in imported(path) if m in names and m not in FACADES}
             for name, path in modules() if name not in FACADES}
    assert import_cycles(graph) == []


def test_the_loop_check_can_fail():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
