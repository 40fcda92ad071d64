"""The public API: each subpackage exports its public classes in ``__all__``, and every name the docs mention
(``facexformer.x.Name``, ``from facexformer.x import Name``, ``::: facexformer.x``) imports."""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from facexformer.plugins import declared_class_paths

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
PACKAGES = [
    "facexformer.losses",
    "facexformer.metrics",
    "facexformer.data",
    "facexformer.data.datasets",
    "facexformer.model",
    "facexformer.tasks",
]
#: public classes deliberately left out of a package's ``__all__`` (building blocks of exported classes)
INTERNAL = {
    "facexformer.model": {
        "Attention",
        "TwoWayAttentionBlock",
        "MLP",
        "TokenHead",
        "LayerNorm2d",
        "ParsingHead",
        "HeatmapHead",
        "ResidualBlock",
        "Hourglass",
        "RandomFourierPositionEncoding",
        "HypernetworkMaps",
        "RotationHead",
        "Float32Module",
        "Float32TokenHead",
    },
    "facexformer.data": {"TaskStreams", "Transformed"},
    "facexformer.data.datasets": {"AFLWRecord", "ImageRecord", "WFLWRecord"},
    "facexformer.tasks": {"EulerVariant", "HeatmapVariant", "RegressionVariant", "RotationVariant"},
}
#: classes declared under this package's entry points (``facexformer.plugins``) are public through the registry
#: (short name or class path): a new built-in task, backbone or reader is one file, its re-export optional
DECLARED = {(path.rsplit(".", 2)[0], path.rsplit(".", 1)[1]) for path in declared_class_paths()}  # (package, class)
FILE_SUFFIXES = (".md", ".py", ".yaml", ".json", ".onnx", ".pt", ".ckpt", ".safetensors", ".png", ".jpg")


def resolve(dotted: str) -> object:
    """The object at ``dotted`` (``package.module.Name`` or a module), importing the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def doc_references() -> set[str]:
    found: set[str] = set()
    for path in DOCS:
        text = path.read_text()
        found.update(re.findall(r"\bfacexformer(?:\.[a-z_0-9]+)+(?:\.[A-Za-z_][A-Za-z0-9_]*)?", text))
        for block in re.findall(r"```(?:python|py)\n(.*?)```", text, re.DOTALL):
            try:
                tree = ast.parse(block)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("facexformer"):
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for module, names in re.findall(r"from (facexformer[\w.]*) import ([\w, ]+)", text):
            found.update(f"{module}.{name.strip()}" for name in names.split(",") if name.strip())
    return {ref.rstrip(".") for ref in found if not ref.endswith(FILE_SUFFIXES)}


def test_docs_mention_names_that_import():
    references = doc_references()
    assert "facexformer.data.datasets.WFLW" in references and len(references) > 60
    broken = []
    for ref in sorted(references):
        try:
            resolve(ref)
        except (ImportError, AttributeError) as err:
            broken.append(f"{ref}: {err}")
    assert not broken, "\n".join(broken)


def test_landmark_names_import_from_their_packages():
    from facexformer.losses import AdaptiveWingLoss, STARLoss, WingLoss
    from facexformer.metrics import AUC, CED, NME, FailureRate

    assert STARLoss.__module__ == "facexformer.losses.star" and NME.__module__ == "facexformer.metrics.landmarks"
    assert {WingLoss, AdaptiveWingLoss, AUC, CED, FailureRate}


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_its_public_classes(package):
    module = importlib.import_module(package)
    exported = set(module.__all__)
    assert all(hasattr(module, name) for name in exported)
    public = set()
    for info in pkgutil.iter_modules(module.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        sub = importlib.import_module(f"{package}.{info.name}")
        public |= {
            name
            for name, obj in vars(sub).items()
            if inspect.isclass(obj) and not name.startswith("_") and obj.__module__ == sub.__name__
        }
    declared = {name for where, name in DECLARED if where == package}
    missing = public - exported - INTERNAL.get(package, set()) - declared
    assert not missing, f"{package}.__all__ lacks {sorted(missing)}"
