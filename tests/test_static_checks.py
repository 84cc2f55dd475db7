"""Static checks that run with the test suite, so CI fails on them like on a failing test.

- mypy over every package (configured in the root pyproject.toml: every function annotated,
  bodies checked);
- ruff over the packages, the tests and the benchmarks;
- package boundaries: a package uses another package only through what that package
  exports (its ``__all__``), so a module can be renamed or split without breaking a
  neighbour, and the dependency rules of DESIGN.md hold.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(ROOT.glob("packages/*/src/*"))
PACKAGES = {src.name: src for src in SOURCES if (src / "__init__.py").is_file()}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_every_package_ships_py_typed() -> None:
    missing = [name for name, src in PACKAGES.items() if not (src / "py.typed").is_file()]
    assert sorted(PACKAGES) == [
        "litdata",
        "litdata_format",
        "litdata_storage",
        "litdata_stream",
        "litdata_writer",
    ]
    assert missing == []


def test_mypy_finds_nothing() -> None:
    result = _run("mypy")  # files, options and cache folder come from [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "packages", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def _exports(package: str) -> set[str]:
    """The names in ``package/__init__.py``'s ``__all__`` (read from the source: no import)."""
    tree = ast.parse((PACKAGES[package] / "__init__.py").read_text())
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert node.value is not None
            return set(ast.literal_eval(node.value))
    return set()


def _foreign_imports() -> list[tuple[str, int, str, str]]:
    """``(file, line, package, name)`` for each name one package imports from another."""
    found = []
    for package, src in PACKAGES.items():
        for path in sorted(src.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    other = node.module.split(".")[0]
                    if other in PACKAGES and other != package:
                        where = str(path.relative_to(ROOT))
                        found += [(where, node.lineno, other, a.name) for a in node.names]
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        other = alias.name.split(".")[0]
                        if other in PACKAGES and other != package and alias.name != other:
                            found.append(
                                (str(path.relative_to(ROOT)), node.lineno, other, f"module {alias.name}")
                            )
    return found


def test_packages_import_only_what_other_packages_export() -> None:
    assert _foreign_imports(), "the walk finds the packages' imports of each other"
    exports = {name: _exports(name) for name in PACKAGES}
    wrong = [
        f"{where}:{line}: {name} is not exported by {other} (import it from {other}, add it to its __all__)"
        for where, line, other, name in _foreign_imports()
        if name not in exports[other]
    ]
    assert wrong == []


def test_no_module_is_loaded_by_file_path() -> None:
    """Loading another package's file by path bypasses its imports and its exports."""
    offenders = [
        str(path.relative_to(ROOT))
        for src in PACKAGES.values()
        for path in src.rglob("*.py")
        if "spec_from_file_location" in path.read_text()
    ]
    assert offenders == []
