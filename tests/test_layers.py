"""The dependency rule: a layer imports only its own group and the layers below it, never one above.

Every ``import facexformer...`` in every module counts, including imports inside functions. Modules in a
subpackage belong to the group of that subpackage (``facexformer/tasks/*`` -> ``tasks``); loose top-level
files are assigned to a group by ``LOOSE_FILES``, the layer they will move into.
"""

import ast
from pathlib import Path

import pytest

import facexformer

#: low -> high; a module may import its own group and any group of a strictly lower layer
LAYERS: list[tuple[str, ...]] = [
    # pure modules that import nothing of facexformer: the networks and the sample/batch contract, usable by all
    ("model", "batch"),
    ("plugins",),  # the entry-point registry of plugin parts: it imports nothing of facexformer, all ask it
    ("geometry", "losses"),  # image frames, crops, rotations, landmark schemes
    ("metrics",),  # landmark metrics normalise with the landmark schemes and geometry
    ("tasks",),  # a task wires a head (model), a loss and metrics
    ("io",),  # checkpoints, weights, the released format: they rebuild tasks from configs
    ("data",),  # datasets, collate, crop, augmentation, the datamodule: they read task declarations (and io)
    ("inference",),  # detection, prediction, drawing
    ("training",),  # callbacks, image logging, fine-tuning
    ("module",),  # the LightningModule: builds the network from tasks, trains, predicts through inference
    ("evaluation",),  # protocols that run a trained FaceXFormer (verification)
    ("apps",),  # command lines and the package's public namespace
    ("benchmarking",),  # benchmarks: they time the command lines' pipelines
]

#: loose top-level files -> their group (``__init__`` is the package namespace, which re-exports ``module``)
LOOSE_FILES = {"batch": "batch", "module": "module", "__init__": "apps", "__main__": "apps"}

RANK = {group: rank for rank, groups in enumerate(LAYERS) for group in groups}
PACKAGE = Path(facexformer.__file__).parent


def group_of(module: str) -> str:
    """``facexformer.tasks.base`` -> ``tasks``; a loose file's group from ``LOOSE_FILES``."""
    parts = module.split(".")
    if len(parts) == 1:
        return LOOSE_FILES["__init__"]
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    if parts[1] not in LOOSE_FILES:
        raise KeyError(f"{module}: a loose top-level file without a group; add it to LOOSE_FILES in {__file__}")
    return LOOSE_FILES[parts[1]]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imported_modules(path: Path) -> list[str]:
    """Every facexformer module the file ``path`` imports."""
    package = module_name(path).split(".")
    return imports_in(path.read_text(), package if path.name == "__init__.py" else package[:-1])


def imports_in(source: str, package: list[str]) -> list[str]:
    """Every facexformer module ``source`` (a file of ``package``) imports, absolute or relative, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.append(".".join(base + ([node.module] if node.module else [])))
    return [name for name in found if name == "facexformer" or name.startswith("facexformer.")]


def violations(imports: dict[str, list[str]]) -> list[str]:
    """``{module: [imported modules]}`` -> one line per import of a group that is not below the importer's."""
    found = []
    for module, names in imports.items():
        group = group_of(module)
        for name in names:
            target = group_of(name)
            if target != group and RANK[target] >= RANK[group]:
                found.append(f"{module} ({group}) imports {name} ({target})")
    return found


def package_imports() -> dict[str, list[str]]:
    return {module_name(path): imported_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_group_has_a_layer():
    groups = {group_of(module) for module in package_imports()}
    assert groups <= set(RANK), groups - set(RANK)
    assert {"model", "geometry", "losses", "metrics", "tasks", "io", "data", "inference", "module"} <= groups


def test_lower_layers_never_import_upper_ones():
    imports = package_imports()
    assert sum(map(len, imports.values())) > 100  # the walk found the package's imports
    assert violations(imports) == []


def test_io_sits_below_the_lightning_module():
    """No import circle between the weights I/O and the model class that calls it."""
    assert RANK["io"] < RANK["module"] and RANK["io"] < RANK["data"]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("facexformer.model.network", "facexformer.tasks"),
        ("facexformer.tasks.landmarks", "facexformer.data.collate"),
        ("facexformer.io.weights", "facexformer.module"),
        ("facexformer.losses.star", "facexformer.metrics.landmarks"),
        ("facexformer.data.crop", "facexformer.inference.predict"),
    ],
)
def test_an_upward_import_is_reported(module, name):
    assert violations({module: [name]}) == [f"{module} ({group_of(module)}) imports {name} ({group_of(name)})"]


def test_relative_imports_resolve_to_their_package():
    assert "facexformer.model.backbone" in imported_modules(PACKAGE / "model" / "network.py")
    source = "from ..tasks import base\nfrom . import heads\nimport numpy\n"
    assert imports_in(source, ["facexformer", "model"]) == ["facexformer.tasks", "facexformer.model"]


def import_cycles(imports: dict[str, list[str]]) -> list[list[str]]:
    """The modules of ``imports`` (``{module: [imported modules]}``) that import each other, directly or
    through others: each strongly connected group of two or more, sorted (Tarjan's algorithm). A package's
    ``__init__`` is the module named after the package."""
    graph = {module: sorted(set(names) & set(imports) - {module}) for module, names in imports.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for name in graph[module]:
            if name not in index:
                visit(name)
                low[module] = min(low[module], low[name])
            elif name in stack:
                low[module] = min(low[module], index[name])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


#: cycles left to break, with what closes them (a test fails on any other cycle)
KNOWN_CYCLES = [
    # render imports the painters; they import render's ``Painter`` for type hints only (TYPE_CHECKING)
    [
        "facexformer.data.synthetic.paint_accessories",
        "facexformer.data.synthetic.paint_features",
        "facexformer.data.synthetic.paint_head",
        "facexformer.data.synthetic.render",
    ],
    # io/checkpoint.py: ``from facexformer.io import released`` goes through the package, whose __init__ imports it
    ["facexformer.io", "facexformer.io.checkpoint"],
]


def test_no_module_imports_itself_through_others():
    """Imports inside functions count too: a lazy import hides a cycle from Python, not from the reader."""
    cycles = import_cycles(package_imports())
    assert [cycle for cycle in cycles if cycle not in KNOWN_CYCLES] == []
    assert not [cycle for cycle in cycles if any(m.startswith("facexformer.benchmarking.") for m in cycle)]


def test_an_import_cycle_is_reported():
    imports = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e"]}
    assert import_cycles(imports) == [["a", "b", "c"]]
