"""Every import of the package's own modules resolves, the lazy ones inside functions too.

Many imports are deferred into the function that needs them (MLflow, Evidently and torch
cost seconds), so a module renamed without them would only fail when a user runs that
command; import-linter does not report imports of modules that do not exist.
"""

import ast
import importlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hokusai_assets"


def own_imports() -> list[tuple[str, int, str, str | None]]:
    """(file, line, module, name or None) of every import of hokusai_assets in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE.parent))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("hokusai_assets"):
                found += [(where, node.lineno, node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(where, node.lineno, a.name, None) for a in node.names if a.name.startswith("hokusai_assets")]
    return found


def unresolved(module: str, name: str | None) -> bool:
    try:
        imported = importlib.import_module(module)
        if name is not None and not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")  # a submodule, imported by name
    except ImportError:
        return True
    return False


def test_every_own_import_resolves():
    imports = own_imports()
    assert len(imports) > 300  # the scan sees the imports, lazy ones included
    broken = [f"{where}:{line}: {module} {name or ''}" for where, line, module, name in imports if unresolved(module, name)]
    assert broken == [], "imports that would fail when their code runs:\n" + "\n".join(broken)
