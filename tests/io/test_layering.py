"""``facexformer.io`` sits below the LightningModule and the apps: it never imports them (no import circle)."""

import ast
from pathlib import Path

import facexformer.io

ALLOWED = ("facexformer.io", "facexformer.tasks")


def test_io_imports_only_itself_and_the_tasks():
    folder = Path(facexformer.io.__file__).parent
    found = {}
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found[path.name] = found.get(path.name, []) + [n for n in names if n.startswith("facexformer")]
    imported = {name for names in found.values() for name in names}
    assert imported and all(name.startswith(ALLOWED) for name in imported), found
