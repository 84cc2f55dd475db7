"""Run the public-API part of LitData's own test suite against LitData and against us.

LitData's tests are the closest thing to an outside opinion on "drop-in": they were
written by the people who define the behaviour. Most of them exercise internals
(``litdata.streaming.cache.Cache``, mocks of the cloud clients, private attributes)
that a drop-in does not and should not reproduce, so this harness keeps only the test
functions that touch nothing but top-level public names of ``litdata`` which our
meta-package also exports, then runs exactly the same filtered files twice:

1. with the LitData 0.2.76 reference venv (the baseline: a test that fails there says
   nothing about us), and
2. with our dev environment, where ``import litdata`` is our meta-package.

Steps (each printed as it runs):

* fetch LitData's tests: the PyPI sdist when it ships ``tests/``, otherwise the git
  mirror at the tag nearest 0.2.76 (or HEAD when HEAD is newer than every tag);
* ``pytest --collect-only`` in the LitData venv gives the real test ids;
* a static (``ast``) filter decides per test function, following the module's helpers,
  fixtures (module and conftest) and ``tests.*`` helper modules it uses;
* filtered copies of the modules are generated (tests are never copied into the
  repository: everything lives under ``.benchmarks/litdata_suite/``, git-ignored);
* both runs write junit xml; the table, the totals and a JSON file come out of them.

Nothing here imports either ``litdata``: names are computed by subprocesses in each venv,
so the list of names we export is re-read on every run as the API grows.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".benchmarks" / "litdata_suite"
LITDATA_PY = REPO / ".venvs" / "litdata-0.2.76" / "bin" / "python"
OURS_PY = Path(
    os.environ.get(
        "PY",
        "/root/.local/share/hatch/env/virtual/litdata-workspace/8q9sCXq4/litdata-workspace/bin/python",
    )
)
MIRROR = Path("/work/.mirror/Lightning-AI+litData/repo")
TARGET_VERSION = (0, 2, 76)

# Builtin pytest fixtures: parameters with these names need no resolution.
BUILTIN_FIXTURES = {
    "tmpdir",
    "tmp_path",
    "tmpdir_factory",
    "tmp_path_factory",
    "monkeypatch",
    "capsys",
    "capfd",
    "caplog",
    "request",
    "recwarn",
    "pytestconfig",
    "capsysbinary",
    "capfdbinary",
    "record_property",
    "doctest_namespace",
    "testdir",
    "pytester",
    "subtests",
}
# Policy skips: markers that mean slow / cloud / GPU in LitData's suite.
POLICY_MARKERS = {"slow": "marked slow", "cloud": "marked cloud"}
CLOUD_URL = re.compile(r"^(s3|gs|gcs|azure|az|hf|lightning|r2|dbfs)://")
LITDATA_DOTTED = re.compile(r"^litdata(\.[A-Za-z_]\w*)+$")

PYTEST_INI = """[pytest]
markers =
    cloud: cloud tests (LitData's marker)
filterwarnings = error::FutureWarning
xfail_strict = true
junit_family = xunit1
"""


# ----------------------------------------------------------------------------- fetching
def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def fetch_tests(dest: Path) -> dict:
    """Extract LitData's ``tests/`` under ``dest``; return where they came from."""
    marker = dest / "SOURCE.json"
    if marker.exists() and (dest / "tests").is_dir():
        return json.loads(marker.read_text())
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    source = _from_sdist(dest) or _from_mirror(dest)
    marker.write_text(json.dumps(source, indent=2))
    return source


def _from_sdist(dest: Path) -> dict | None:
    sdist_dir = dest / "sdist"
    pip = LITDATA_PY.parent / "pip"
    cmd = [
        str(pip),
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "litdata==0.2.76",
        "-d",
        str(sdist_dir),
        "-q",
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"[fetch] sdist download failed ({exc}); trying the git mirror")
        return None
    tarballs = list(sdist_dir.glob("litdata-*.tar.gz"))
    if not tarballs:
        return None
    with tarfile.open(tarballs[0]) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name and m.isfile()]
        if not members:
            print("[fetch] the litdata 0.2.76 sdist ships no tests/; using the git mirror")
            return None
        for m in members:
            m.name = m.name.split("/", 1)[1]
        tar.extractall(dest, members=members, filter="data")
    return {"source": "pypi sdist litdata==0.2.76", "ref": "0.2.76", "commit": None}


def _git(*args: str) -> str:
    out = subprocess.run(["git", f"--git-dir={MIRROR}", *args], check=True, capture_output=True, text=True)
    return out.stdout


def _from_mirror(dest: Path) -> dict:
    if not MIRROR.exists():
        raise SystemExit(f"no LitData tests: the sdist has none and {MIRROR} is missing")
    tags = [t for t in _git("tag").split() if re.fullmatch(r"v?\d+\.\d+\.\d+", t)]
    best = max((t for t in tags if _version_tuple(t) <= TARGET_VERSION), key=_version_tuple)
    head_about = _git("show", "HEAD:src/litdata/__about__.py")
    head_version = re.search(r'__version__ = "([^"]+)"', head_about).group(1)
    ref = best
    ahead = int(_git("rev-list", "--count", f"{best}..HEAD").strip())
    if _version_tuple(head_version) >= _version_tuple(best) and ahead:
        ref = "HEAD"  # HEAD contains the tag and is newer: closer to 0.2.76
    commit = _git("rev-parse", f"{ref}^{{commit}}").strip()
    archive = subprocess.run(
        ["git", f"--git-dir={MIRROR}", "archive", commit, "tests"], check=True, capture_output=True
    ).stdout
    tar_path = dest / "tests.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")
    tar_path.unlink()
    return {
        "source": f"git mirror {MIRROR}",
        "ref": ref,
        "nearest_tag": best,
        "version_at_ref": head_version if ref == "HEAD" else best,
        "commit": commit,
        "commits_after_tag": ahead if ref == "HEAD" else 0,
    }


# ------------------------------------------------------------------------- public names
def public_names() -> tuple[set[str], set[str], set[str]]:
    """(LitData's top-level public names, ours, allowed = both and not a submodule)."""
    probe = (
        "import json, types, litdata\n"
        "names = getattr(litdata, '__all__', None) or [n for n in dir(litdata) if not n.startswith('_')]\n"
        "mods = [n for n in dir(litdata) if isinstance(getattr(litdata, n, None), types.ModuleType)]\n"
        "print(json.dumps({'names': sorted(names), 'dir': sorted(n for n in dir(litdata) if not n.startswith('_')), 'modules': mods}))\n"
    )
    theirs = json.loads(
        subprocess.run([str(LITDATA_PY), "-c", probe], check=True, capture_output=True, text=True).stdout
    )
    ours = json.loads(
        subprocess.run(
            [str(OURS_PY), "-c", probe], check=True, capture_output=True, text=True, cwd="/"
        ).stdout
    )
    theirs_names = set(theirs["names"]) - set(theirs["modules"])
    ours_names = set(ours["dir"]) - set(ours["modules"])
    return theirs_names, ours_names, theirs_names & ours_names


def internal_aliases(root: Path) -> dict[str, str]:
    """Internal import paths that are the very object of a top-level public name.

    ``from litdata.streaming.dataset import StreamingDataset`` imports the public class by
    its defining module; a test doing so still uses only public API, so the filter treats
    (and the generated copy rewrites) it as ``from litdata import StreamingDataset``.
    Decided by identity in the LitData venv, not by name.
    """
    dotted = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("litdata."):
                dotted |= {f"{node.module}.{a.name}" for a in node.names}
    probe = (
        "import importlib, json, sys, litdata\n"
        "public = {id(getattr(litdata, n)): n for n in litdata.__all__ if hasattr(litdata, n)}\n"
        "out = {}\n"
        "for d in json.loads(sys.stdin.read()):\n"
        "    mod, _, name = d.rpartition('.')\n"
        "    try:\n"
        "        obj = getattr(importlib.import_module(mod), name)\n"
        "    except Exception:\n"
        "        continue\n"
        "    if id(obj) in public and not isinstance(obj, type(litdata)):\n"
        "        out[d] = public[id(obj)]\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [str(LITDATA_PY), "-c", probe],
        input=json.dumps(sorted(dotted)),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- collecting
def collect(tests_root: Path) -> tuple[list[str], list[str]]:
    """Test ids pytest collects in the LitData venv, and the modules that fail to import."""
    (tests_root / "pytest.ini").write_text(PYTEST_INI)
    cmd = [
        str(LITDATA_PY),
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        "pytest.ini",
        "--rootdir",
        ".",
        "--continue-on-collection-errors",
        "tests",
    ]
    out = subprocess.run(cmd, cwd=tests_root, capture_output=True, text=True, timeout=300)
    ids = [line.strip() for line in out.stdout.splitlines() if "::" in line and " " not in line.strip()]
    errors = re.findall(r"^ERROR (tests/\S+\.py)", out.stdout, flags=re.M)
    if not ids:
        tail = (out.stdout + out.stderr).strip().splitlines()[-5:]
        raise SystemExit(
            f"no test collected in the LitData venv ({LITDATA_PY}); pytest said:\n  "
            + "\n  ".join(tail)
            + "\n(install pytest, pytest-timeout and LitData's test deps there: benchmarks/setup_venvs.sh)"
        )
    return ids, sorted(set(errors))


# ------------------------------------------------------------------------ static filter
@dataclass
class Module:
    """One analysed source file of LitData's test tree."""

    rel: str  # "tests/streaming/test_dataset.py"
    tree: ast.Module
    lines: list[str]
    imports: dict[str, tuple] = field(default_factory=dict)  # local name -> binding
    defs: dict[str, ast.stmt] = field(default_factory=dict)  # top-level name -> statement
    fixtures: dict[str, ast.FunctionDef] = field(default_factory=dict)


def _decorator_names(node: ast.AST) -> list[str]:
    out = []
    for dec in getattr(node, "decorator_list", []):
        target = dec.func if isinstance(dec, ast.Call) else dec
        out.append(ast.unparse(target))
    return out


def _is_fixture(node: ast.AST) -> bool:
    return any(name in ("pytest.fixture", "fixture") for name in _decorator_names(node))


def _fixture_autouse(node: ast.FunctionDef) -> bool:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call) and ast.unparse(dec.func) in ("pytest.fixture", "fixture"):
            for kw in dec.keywords:
                if kw.arg == "autouse" and isinstance(kw.value, ast.Constant) and kw.value.value:
                    return True
    return False


def _fixture_name(node: ast.FunctionDef) -> str:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    return node.name


def _bound_names(stmt: ast.stmt) -> list[str]:
    """Top-level names a statement binds (defs, classes, assignments, nested in if/try)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(stmt, (ast.If, ast.Try, ast.With)):
        inner = []
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                inner += _bound_names(child)
            elif isinstance(child, ast.ExceptHandler):
                for sub in child.body:
                    inner += _bound_names(sub)
        return inner
    return []


def load_module(root: Path, rel: str) -> Module:
    text = (root / rel).read_text()
    mod = Module(rel=rel, tree=ast.parse(text), lines=text.splitlines(keepends=True))
    for stmt in mod.tree.body:
        for node in ast.walk(stmt) if isinstance(stmt, (ast.If, ast.Try)) else [stmt]:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    if alias.name == "litdata" or (alias.name.startswith("litdata.") and not alias.asname):
                        # `import litdata.x` binds `litdata`; the dotted use is checked later
                        mod.imports[local] = (
                            ("litdata_module",)
                            if alias.name == "litdata"
                            else ("litdata_internal", alias.name)
                        )
                    elif alias.name.startswith("litdata."):
                        mod.imports[local] = ("litdata_internal", alias.name)
                    else:
                        mod.imports[local] = ("other", alias.name)
            elif isinstance(node, ast.ImportFrom):
                src = node.module or ""
                for alias in node.names:
                    local = alias.asname or alias.name
                    if src == "litdata":
                        mod.imports[local] = ("litdata_public", alias.name)
                    elif src.startswith("litdata."):
                        mod.imports[local] = ("litdata_internal", f"{src}.{alias.name}")
                    elif src.startswith("tests.") or src == "tests" or node.level:
                        mod.imports[local] = ("testhelper", src, alias.name, node.level)
                    else:
                        mod.imports[local] = ("other", src)
    for stmt in mod.tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        for name in _bound_names(stmt):
            mod.defs[name] = stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_fixture(stmt):
            mod.fixtures[_fixture_name(stmt)] = stmt
    return mod


class Analyzer:
    """Finds, for a statement, every reason it is not public-API-only (transitively)."""

    def __init__(
        self, root: Path, allowed: set[str], theirs: set[str], aliases: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.aliases = aliases or {}
        self.allowed = allowed
        self.theirs = theirs
        self.modules: dict[str, Module] = {}
        self.memo: dict[tuple[str, int], frozenset[str]] = {}

    def module(self, rel: str) -> Module | None:
        if rel not in self.modules:
            if not (self.root / rel).is_file():
                return None
            self.modules[rel] = load_module(self.root, rel)
        return self.modules[rel]

    def conftests(self, rel: str) -> list[Module]:
        """conftest.py modules that apply to ``rel``, nearest first."""
        out, parts = [], Path(rel).parent.parts
        for i in range(len(parts), 0, -1):
            cand = "/".join(parts[:i]) + "/conftest.py"
            if cand != rel and (m := self.module(cand)):
                out.append(m)
        return out

    def _helper_module(self, mod: Module, src: str, level: int) -> Module | None:
        if level:
            base = Path(mod.rel).parent
            for _ in range(level - 1):
                base = base.parent
            path = base / src.replace(".", "/") if src else base
        else:
            path = Path(src.replace(".", "/"))
        return self.module(f"{path}.py") or self.module(f"{path}/__init__.py")

    # -- reasons -----------------------------------------------------------------------
    def name_reasons(self, mod: Module, name: str, seen: set) -> set[str]:
        binding = mod.imports.get(name)
        if binding is not None:
            kind = binding[0]
            if kind == "litdata_public":
                return self._public_reasons(binding[1])
            if kind == "litdata_internal":
                if binding[1] in self.aliases:
                    return self._public_reasons(self.aliases[binding[1]])
                return {f"imports internal {self._short(binding[1])}"}
            if kind == "testhelper":
                helper = self._helper_module(mod, binding[1], binding[3])
                if helper and binding[2] in helper.defs:
                    return self.stmt_reasons(helper, helper.defs[binding[2]], seen)
            return set()
        if name in mod.defs:
            return self.stmt_reasons(mod, mod.defs[name], seen)
        return set()

    @staticmethod
    def _short(dotted: str) -> str:
        parts = dotted.split(".")
        return ".".join(parts[:2]) + (".*" if len(parts) > 2 else "")

    def fixture_reasons(self, mod: Module, name: str, seen: set) -> set[str]:
        for m in [mod, *self.conftests(mod.rel)]:
            if name in m.fixtures:
                return self.stmt_reasons(m, m.fixtures[name], seen)
        return set()

    def stmt_reasons(self, mod: Module, stmt: ast.AST, seen: set | None = None) -> frozenset[str]:
        key = (mod.rel, id(stmt))
        if key in self.memo:
            return self.memo[key]
        seen = set() if seen is None else seen
        if key in seen:
            return frozenset()
        seen.add(key)
        reasons: set[str] = set()
        local_params = self._param_names(stmt)
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in local_params:
                    continue
                if mod.imports.get(node.id, ("",))[0] == "litdata_module":
                    continue  # handled by the Attribute case below
                reasons |= self.name_reasons(mod, node.id, seen)
            elif isinstance(node, ast.Attribute):
                chain = self._attr_chain(node)
                if chain and mod.imports.get(chain[0], ("",))[0] == "litdata_module" and len(chain) > 1:
                    attr = chain[1]
                    if attr not in self.theirs:
                        reasons.add(f"uses internal litdata.{attr}")
                    elif attr not in self.allowed:
                        reasons.add(f"uses litdata.{attr} (not exported by ours)")
                if (
                    node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                ):
                    base = ast.unparse(node.value)
                    if base.split(".")[0] not in ("sys", "os", "torch", "np", "numpy", "threading"):
                        reasons.add("accesses a private attribute (._name)")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                reasons |= self._local_import_reasons(node)
            elif isinstance(node, ast.ClassDef) and node.bases:
                base_reasons = set()
                for base in node.bases:
                    for sub in ast.walk(base):
                        if isinstance(sub, ast.Name):
                            base_reasons |= self.name_reasons(mod, sub.id, seen)
                subclasses_litdata = any(
                    mod.imports.get(sub.id, ("",))[0].startswith("litdata")
                    for base in node.bases
                    for sub in ast.walk(base)
                    if isinstance(sub, ast.Name)
                )
                private = [
                    s.name
                    for s in node.body
                    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and s.name.startswith("_")
                    and not s.name.startswith("__")
                ]
                if subclasses_litdata and private:
                    reasons.add("subclasses a litdata class overriding private methods")
                reasons |= base_reasons
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if LITDATA_DOTTED.match(node.value):
                    reasons.add("names a litdata internal by dotted path (patch/mock/import_module)")
            elif isinstance(node, ast.Call):
                fname = ast.unparse(node.func)
                if fname.endswith(("setattr", "delattr", "patch.object", "setitem")) and node.args:
                    first = node.args[0]
                    root_name = (
                        self._attr_chain(first)[:1] if isinstance(first, (ast.Name, ast.Attribute)) else []
                    )
                    if root_name and mod.imports.get(root_name[0], ("",))[0].startswith("litdata"):
                        reasons.add("patches/mocks a litdata object")
        # fixtures requested by parameters or usefixtures
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = [a.arg for a in stmt.args.args + stmt.args.kwonlyargs]
            params += self._usefixtures(stmt)
            for p in params:
                if p in ("self", "cls") or p in BUILTIN_FIXTURES:
                    continue
                if p in self._parametrized(stmt):
                    continue
                reasons |= self.fixture_reasons(mod, p, seen)
        result = frozenset(reasons)
        self.memo[key] = result
        return result

    def _public_reasons(self, name: str) -> set[str]:
        if name not in self.theirs:
            return {f"imports non-public litdata name {name}"}
        if name not in self.allowed:
            return {f"uses litdata.{name} (not exported by ours)"}
        return set()

    def _local_import_reasons(self, node: ast.Import | ast.ImportFrom) -> set[str]:
        """Imports inside a function body: same rules as the module-level ones."""
        if isinstance(node, ast.Import):
            return {
                f"imports internal {self._short(a.name)}" for a in node.names if a.name.startswith("litdata.")
            }
        src = node.module or ""
        out: set[str] = set()
        if src.startswith("litdata."):
            for a in node.names:
                dotted = f"{src}.{a.name}"
                if dotted in self.aliases:
                    out |= self._public_reasons(self.aliases[dotted])
                else:
                    out.add(f"imports internal {self._short(dotted)}")
            return out
        if src != "litdata":
            return set()
        for alias in node.names:
            out |= self._public_reasons(alias.name)
        return out

    @staticmethod
    def _attr_chain(node: ast.AST) -> list[str]:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        return []

    @staticmethod
    def _param_names(stmt: ast.AST) -> set[str]:
        names = set()
        for node in ast.walk(stmt):
            if isinstance(node, ast.arg):
                names.add(node.arg)
        return names

    @staticmethod
    def _parametrized(stmt: ast.AST) -> set[str]:
        names = set()
        for dec in getattr(stmt, "decorator_list", []):
            if isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("parametrize") and dec.args:
                first = dec.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names |= {n.strip() for n in first.value.split(",")}
                elif isinstance(first, (ast.List, ast.Tuple)):
                    names |= {e.value for e in first.elts if isinstance(e, ast.Constant)}
        return names

    @staticmethod
    def _usefixtures(stmt: ast.AST) -> list[str]:
        out = []
        for dec in getattr(stmt, "decorator_list", []):
            if isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("usefixtures"):
                out += [a.value for a in dec.args if isinstance(a, ast.Constant)]
        return out

    def pytestmark_reasons(self, mod: Module) -> frozenset[str]:
        if "pytestmark" in mod.defs:
            return self.stmt_reasons(mod, mod.defs["pytestmark"])
        return frozenset()


def policy_skip(stmt: ast.AST) -> str | None:
    """Why a public-only test is still not run here (slow / cloud / GPU), or None."""
    for dec in getattr(stmt, "decorator_list", []):
        text = ast.unparse(dec)
        for marker, why in POLICY_MARKERS.items():
            if f"mark.{marker}" in text:
                return why
    for node in ast.walk(stmt):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if CLOUD_URL.match(node.value):
                return "needs cloud storage / credentials"
            if re.match(r"^https?://", node.value):
                return "needs network access"
            if node.value.startswith("cuda"):
                return "needs a GPU"
        if isinstance(node, ast.Attribute) and node.attr == "cuda":
            return "needs a GPU"
    return None


def imported_packages(stmt: ast.AST) -> set[str]:
    """Top-level third-party packages a statement imports (inside function bodies too)."""
    out = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out - {"litdata", "tests"}


def missing_in_litdata_venv(packages: set[str]) -> set[str]:
    """Which of ``packages`` the LitData venv cannot import (LitData test deps not installed)."""
    probe = (
        "import importlib.util, json, sys\n"
        "print(json.dumps([p for p in json.loads(sys.stdin.read()) if importlib.util.find_spec(p) is None]))"
    )
    proc = subprocess.run(
        [str(LITDATA_PY), "-c", probe],
        input=json.dumps(sorted(packages)),
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(proc.stdout))


def litdata_env_vars(an: Analyzer, function: str) -> set[str]:
    """LitData environment variables (DATA_OPTIMIZER_*, LITDATA_*) named by a test."""
    rel, *names = function.split("::")
    unit = an.module(rel).defs[names[0]]
    return {
        n.value
        for n in ast.walk(unit)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and re.fullmatch(r"(DATA_OPTIMIZER|LITDATA)_[A-Z0-9_]+", n.value)
    }


def only_in_decorators(an: Analyzer, mod: Module, stmt: ast.AST, reasons: frozenset[str]) -> bool:
    """True when every reason comes from a decorator (typically a skipif on a constant)."""
    if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or not reasons:
        return False
    body = ast.Module(body=stmt.body, type_ignores=[])
    fake = ast.FunctionDef(
        name=stmt.name, args=stmt.args, body=[body], decorator_list=[], returns=None, type_params=[]
    )
    an.memo.pop((mod.rel, id(fake)), None)
    return not an.stmt_reasons(mod, fake)


# ---------------------------------------------------------------------------- filtering
@dataclass
class Decision:
    """The filter's verdict on one LitData test function."""

    function: str  # "tests/x.py::test_f" or "tests/x.py::Cls::test_m"
    cases: list[str]
    kept: bool
    reasons: list[str]
    skip: str | None = None
    decorator_only: bool = False


def decide(an: Analyzer, collected: list[str]) -> list[Decision]:
    by_function: dict[str, list[str]] = collections.OrderedDict()
    for nodeid in collected:
        by_function.setdefault(nodeid.split("[", 1)[0], []).append(nodeid)
    decisions = []
    for function, cases in by_function.items():
        rel, *names = function.split("::")
        mod = an.module(rel)
        if len(names) == 1:
            stmt = mod.defs.get(names[0])
            unit = stmt
        else:
            unit = mod.defs.get(names[0])  # the whole class is analysed for its methods
            stmt = next((s for s in unit.body if getattr(s, "name", None) == names[1]), None)
        if stmt is None or unit is None:
            decisions.append(Decision(function, cases, False, ["not found by the static filter"]))
            continue
        reasons = set(an.stmt_reasons(mod, unit)) | set(an.pytestmark_reasons(mod))
        if reasons:
            deco = only_in_decorators(an, mod, stmt, frozenset(reasons)) and len(names) == 1
            decisions.append(Decision(function, cases, False, sorted(reasons), decorator_only=deco))
            continue
        decisions.append(Decision(function, cases, True, [], skip=policy_skip(stmt)))
    # a kept test importing a package the reference venv lacks cannot give a baseline
    kept = [d for d in decisions if d.kept and not d.skip]
    units = {}
    for d in kept:
        rel, *names = d.function.split("::")
        mod = an.module(rel)
        units[d.function] = imported_packages(mod.defs[names[0]])
    missing = missing_in_litdata_venv(set().union(*units.values())) if units else set()
    for d in kept:
        if units[d.function] & missing:
            d.skip = (
                f"needs {', '.join(sorted(units[d.function] & missing))} (LitData test dep, not installed)"
            )
    return decisions


# --------------------------------------------------------------------------- generating
def _stmt_span(stmt: ast.stmt) -> tuple[int, int]:
    start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    return start, stmt.end_lineno


def generate(an: Analyzer, src_root: Path, out_root: Path, run: list[Decision]) -> dict[str, list[str]]:
    """Write filtered copies of the modules; return the dropped autouse fixtures per file."""
    if out_root.exists():
        shutil.rmtree(out_root)
    keep_tests: dict[str, set[str]] = collections.defaultdict(set)
    for d in run:
        rel, *names = d.function.split("::")
        keep_tests[rel].add("::".join(names))
    # modules to write: kept test modules, every conftest and __init__ above them, helpers
    to_write = set(keep_tests)
    for rel in list(to_write):
        to_write |= {m.rel for m in an.conftests(rel)}
        parts = Path(rel).parent.parts
        for i in range(1, len(parts) + 1):
            to_write.add("/".join(parts[:i]) + "/__init__.py")
    for rel in list(to_write):
        mod = an.module(rel)
        if mod:
            for binding in mod.imports.values():
                if binding[0] == "testhelper" and (h := an._helper_module(mod, binding[1], binding[3])):
                    to_write.add(h.rel)
    dropped_autouse: dict[str, list[str]] = {}
    for rel in sorted(to_write):
        if not (src_root / rel).is_file():
            continue
        mod = an.module(rel)
        text, dropped = _filtered_source(an, mod, keep_tests.get(rel, set()))
        if dropped:
            dropped_autouse[rel] = dropped
        dest = out_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "pytest.ini").write_text(PYTEST_INI)
    return dropped_autouse


def _filtered_source(an: Analyzer, mod: Module, keep: set[str]) -> tuple[str, list[str]]:
    out: list[str] = []
    dropped_autouse: list[str] = []
    for stmt in mod.tree.body:
        start, end = _stmt_span(stmt)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            line = _filtered_import(an, mod, stmt)
            if line:
                out.append(line + "\n")
            following = mod.tree.body[mod.tree.body.index(stmt) + 1 :]
            if not following or not isinstance(following[0], (ast.Import, ast.ImportFrom)):
                out.append("\n\n")
            continue
        is_test_fn = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name.startswith(
            "test"
        )
        is_test_cls = isinstance(stmt, ast.ClassDef) and any(k.split("::")[0] == stmt.name for k in keep)
        if is_test_fn:
            if stmt.name in keep:
                out += _emit(an, mod, stmt, set())
            continue
        if is_test_cls:
            out += _filtered_class(
                an, mod, stmt, {k.split("::")[1] for k in keep if k.startswith(stmt.name + "::")}
            )
            continue
        if (
            isinstance(stmt, ast.ClassDef)
            and stmt.name.startswith("Test")
            and mod.rel.split("/")[-1].startswith("test_")
        ):
            if any(
                isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name.startswith("test")
                for s in stmt.body
            ):
                continue  # a test class with no kept tests
        if an.stmt_reasons(mod, stmt):
            if isinstance(stmt, ast.FunctionDef) and _is_fixture(stmt) and _fixture_autouse(stmt):
                dropped_autouse.append(stmt.name)
            continue
        out += _emit(an, mod, stmt, set())
    return "".join(out), dropped_autouse


def _emit(an: Analyzer, mod: Module, stmt: ast.stmt, drop: set[int]) -> list[str]:
    """Source lines of ``stmt`` minus ``drop``, nested internal-path imports rewritten."""
    start, end = _stmt_span(stmt)
    replace: dict[int, tuple[int, str]] = {}
    for node in ast.walk(stmt):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("litdata."):
            text = _filtered_import(an, mod, node) or " " * node.col_offset + "pass"
            replace[node.lineno] = (node.end_lineno, text + "\n")
    out, i = [], start
    while i <= end:
        if i in replace:
            last, text = replace[i]
            if i not in drop:
                out.append(text)
            i = last + 1
            continue
        if i not in drop:
            out.append(mod.lines[i - 1])
        i += 1
    return [*out, "\n\n"] if stmt in mod.tree.body else out


def _filtered_class(an: Analyzer, mod: Module, cls: ast.ClassDef, keep_methods: set[str]) -> list[str]:
    drop = set()
    for s in cls.body:
        if (
            isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and s.name.startswith("test")
            and s.name not in keep_methods
        ):
            a, b = _stmt_span(s)
            drop |= set(range(a, b + 1))
    return _emit(an, mod, cls, drop)


def _asname(an: Analyzer, src: str, alias: ast.alias) -> str | None:
    public = an.aliases[f"{src}.{alias.name}"]
    local = alias.asname or alias.name
    return None if local == public else local


def _filtered_import(an: Analyzer, mod: Module, stmt: ast.stmt) -> str | None:
    indent = " " * stmt.col_offset
    if isinstance(stmt, ast.Import):
        keep = [a for a in stmt.names if not a.name.startswith("litdata.")]
        return indent + ast.unparse(ast.Import(names=keep)) if keep else None
    src = stmt.module or ""
    if src.startswith("litdata."):
        names = [
            ast.alias(name=an.aliases[f"{src}.{a.name}"], asname=_asname(an, src, a))
            for a in stmt.names
            if f"{src}.{a.name}" in an.aliases and an.aliases[f"{src}.{a.name}"] in an.allowed
        ]
        return indent + ast.unparse(ast.ImportFrom(module="litdata", names=names, level=0)) if names else None
    keep = stmt.names
    if src == "litdata":
        keep = [a for a in stmt.names if a.name in an.allowed]
    elif mod.imports.get(stmt.names[0].asname or stmt.names[0].name, ("",))[0] == "testhelper":
        helper = an._helper_module(mod, src, stmt.level)
        if helper:
            keep = [
                a
                for a in stmt.names
                if a.name not in helper.defs or not an.stmt_reasons(helper, helper.defs[a.name])
            ]
    if not keep:
        return None
    return indent + ast.unparse(ast.ImportFrom(module=stmt.module, names=keep, level=stmt.level))


# ------------------------------------------------------------------------------ running
# LitData's test requirements that the kept modules import at top level or need as pytest
# plugins. Our dev env does not carry them (our packages do not need them), so the ours
# run gets them from a private --target folder on PYTHONPATH, at the LitData venv's
# versions, installed --no-deps so nothing our packages import is shadowed.
EXTRA_TEST_DEPS = {
    "polars": ["polars", "polars-runtime-32"],
    "pytest_asyncio": ["pytest-asyncio"],
    "pytest_rerunfailures": ["pytest-rerunfailures"],
}


def extra_site_for_ours() -> Path | None:
    site = WORK / "extra-site"
    missing = []
    for module, dists in EXTRA_TEST_DEPS.items():
        probe = subprocess.run(
            [str(OURS_PY), "-c", f"import {module}"],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(site)},
            cwd="/",
        )
        if probe.returncode != 0:
            missing += dists
    if missing:
        freeze = subprocess.run(
            [str(LITDATA_PY), "-m", "pip", "freeze"], capture_output=True, text=True
        ).stdout
        pins = {line.split("==")[0].lower(): line for line in freeze.splitlines() if "==" in line}
        reqs = [pins.get(d.lower(), d) for d in missing]
        print(f"[deps] installing LitData's test deps for the ours run into {site}: {' '.join(reqs)}")
        subprocess.run(
            [str(OURS_PY), "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), *reqs],
            check=True,
            timeout=300,
        )
    return site if site.exists() else None


def run_pytest(
    python: Path,
    gen_root: Path,
    files: list[str],
    junit: Path,
    timeout: int,
    budget: int,
    extra_env: dict | None = None,
) -> dict:
    cmd = [
        str(python),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        "pytest.ini",
        "--rootdir",
        ".",
        f"--timeout={timeout}",
        f"--junitxml={junit}",
        "-o",
        "junit_logging=no",
        *files,
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(extra_env or {})
    log = junit.with_suffix(".log")
    t0 = time.monotonic()
    with log.open("w") as fh:
        # own process group: on budget overrun, stop pytest and the workers it spawned
        proc = subprocess.Popen(
            [*cmd[:3], "-v", *cmd[3:]],
            cwd=gen_root,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            rc = "killed (run budget)"
    text = log.read_text(errors="replace")
    return {
        "cmd": " ".join(cmd),
        "rc": rc,
        "seconds": round(time.monotonic() - t0, 1),
        "log": str(log),
        "tail": text[-3000:],
        "verbose": text,
    }


def _tree_digest(root: Path, timeout: int) -> str:
    """Identity of what the LitData run executes: the generated files and the timeout."""
    import hashlib

    h = hashlib.sha256(str(timeout).encode())
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def parse_verbose(text: str) -> dict[str, dict]:
    """Outcomes from ``pytest -v`` lines: the fallback when no junit xml was written."""
    results = {}
    for m in re.finditer(r"^(tests/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", text, flags=re.M):
        outcome = {
            "PASSED": "passed",
            "FAILED": "failed",
            "ERROR": "error",
            "SKIPPED": "skipped",
            "XFAIL": "skipped",
            "XPASS": "failed",
        }[m.group(2)]
        results[m.group(1)] = {
            "outcome": outcome,
            "message": "(no junit: run stopped at its budget)" if outcome in ("failed", "error") else "",
            "seconds": None,
        }
    return results


def parse_junit(junit: Path) -> dict[str, dict]:
    results: dict[str, dict] = {}
    if not junit.exists():
        return results
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        parts = classname.split(".")
        # classname is "tests.pkg.test_mod" or "tests.pkg.test_mod.TestCls"
        if parts and parts[-1][:1].isupper():
            nodeid = "/".join(parts[:-1]) + ".py::" + parts[-1] + "::" + name
        else:
            nodeid = "/".join(parts) + ".py::" + name
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (el.get("message") or (el.text or "")).strip()
                if outcome in ("failed", "error"):
                    message = _first_error_line(message, el.text or "")
                break
        results[nodeid] = {"outcome": outcome, "message": message, "seconds": float(case.get("time", 0) or 0)}
    return results


def _first_error_line(message: str, text: str) -> str:
    """The exception line: prefer the `E   ...` line of the traceback."""
    e_lines = [line[4:].strip() for line in text.splitlines() if line.startswith("E   ") and line[4:].strip()]
    if e_lines:
        if e_lines[0].startswith("AssertionError: Regex pattern did not match"):
            return " ".join(e_lines[:3])[:300]  # add the expected regex and the actual message
        return e_lines[0][:300]
    return message.splitlines()[0][:300] if message else ""


def categorize(message: str) -> str:
    m = re.search(r"unexpected keyword argument '(\w+)'", message)
    if m:
        return f"unexpected keyword argument {m.group(1)}"
    if "Timeout" in message or "Failed: Timeout" in message:
        return "timeout"
    if "DID NOT RAISE" in message:
        return "expected exception not raised"
    m = re.search(r"Regex pattern did not match", message)
    if m:
        return "error message differs"
    m = re.search(r"has no attribute '(\w+)'", message)
    if m:
        return f"missing attribute {m.group(1)}"
    m = re.search(r"cannot import name '(\w+)'|No module named '([\w.]+)'", message)
    if m:
        return f"import: {m.group(1) or m.group(2)}"
    m = re.match(r"([A-Za-z_][\w.]*(Error|Exception|Warning|Exit))\b", message)
    if m and m.group(1) not in ("AssertionError",):
        return f"raises {m.group(1)}"
    if message.startswith(("assert", "AssertionError")):
        return "behaviour (assertion)"
    return "other: " + message[:60]


# ------------------------------------------------------------------------------ report
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--timeout", type=int, default=60, help="per-test timeout, seconds")
    parser.add_argument("--budget", type=int, default=300, help="wall budget per side, seconds")
    parser.add_argument(
        "--rerun-litdata",
        action="store_true",
        help="rerun the LitData baseline even when the generated files are unchanged",
    )
    parser.add_argument("--filter-only", action="store_true", help="stop after the filter")
    parser.add_argument("--refetch", action="store_true", help="re-download LitData's tests")
    parser.add_argument("--label", default=time.strftime("%Y%m%dT%H%M%S"), help="name of the JSON result")
    args = parser.parse_args()
    t_start = time.monotonic()

    src_root = WORK / "src"
    if args.refetch and src_root.exists():
        shutil.rmtree(src_root)
    source = fetch_tests(src_root)
    print(f"[fetch] LitData tests from {source['source']} at {source['ref']} ({source.get('commit')})")

    theirs, ours, allowed = public_names()
    print(
        f"[names] LitData public: {len(theirs)}; ours exports {len(allowed)} of them: {', '.join(sorted(allowed))}"
    )
    print(f"[names] LitData public names ours lacks: {', '.join(sorted(theirs - ours))}")

    collected, collect_errors = collect(src_root)
    print(
        f"[collect] {len(collected)} test cases collected in the LitData venv"
        + (
            f"; modules that fail to import there (not counted): {', '.join(collect_errors)}"
            if collect_errors
            else ""
        )
    )

    aliases = internal_aliases(src_root / "tests")
    print(
        f"[names] {len(aliases)} internal import paths are public objects (treated as public): "
        + ", ".join(sorted(set(aliases.values())))
    )
    an = Analyzer(src_root, allowed, theirs, aliases)
    decisions = decide(an, collected)
    kept = [d for d in decisions if d.kept and not d.skip]
    skipped = [d for d in decisions if d.kept and d.skip]
    excluded = [d for d in decisions if not d.kept]
    print(
        f"\n[filter] {len(decisions)} test functions ({len(collected)} cases): "
        f"{len(kept)} kept ({sum(len(d.cases) for d in kept)} cases), "
        f"{len(skipped)} public-only but skipped by policy, {len(excluded)} excluded"
    )
    reason_count = collections.Counter(r for d in excluded for r in d.reasons)
    print("[filter] exclusion reasons (a function can have several):")
    for reason, n in reason_count.most_common():
        print(f"  {n:4d}  {reason}")
    deco_only = [d.function for d in excluded if d.decorator_only]
    print(
        f"[filter] {len(deco_only)} excluded only because of a decorator (skipif on a litdata constant): "
        + ", ".join(deco_only)
    )
    for d in skipped:
        print(f"[filter] policy skip: {d.function} ({d.skip})")
    env_vars = {d.function: sorted(litdata_env_vars(an, d.function)) for d in kept}
    print("[filter] kept (LitData environment variables a test sets are listed: the filter allows them):")
    for d in kept:
        note = f"  env: {', '.join(env_vars[d.function])}" if env_vars[d.function] else ""
        print(f"  {d.function}  ({len(d.cases)} case{'s' * (len(d.cases) > 1)}){note}")

    gen_root = WORK / "generated"
    dropped_autouse = generate(an, src_root, gen_root, kept)
    for rel, names in dropped_autouse.items():
        print(
            f"[generate] {rel}: autouse fixtures that use internals dropped in both runs: {', '.join(names)}"
        )
    result = {
        "label": args.label,
        "source": source,
        "allowed_names": sorted(allowed),
        "collect_errors": collect_errors,
        "dropped_autouse": dropped_autouse,
        "functions_total": len(decisions),
        "cases_total": len(collected),
        "kept": [d.function for d in kept],
        "kept_env_vars": env_vars,
        "policy_skipped": {d.function: d.skip for d in skipped},
        "excluded": {d.function: d.reasons for d in excluded},
        "exclusion_reason_counts": dict(reason_count),
    }
    if args.filter_only or not kept:
        _write(result, "filter-only" if args.filter_only else args.label, latest=not args.filter_only)
        return 0

    files = sorted({d.function.split("::")[0] for d in kept})
    extra = extra_site_for_ours()
    sides = {}
    digest = _tree_digest(gen_root, args.timeout)
    baseline = WORK / f"baseline-litdata-{digest}.json"
    for side, python in (("litdata", LITDATA_PY), ("ours", OURS_PY)):
        if side == "litdata" and baseline.exists() and not args.rerun_litdata:
            sides[side] = json.loads(baseline.read_text())
            print(
                f"\n[run] litdata: reusing the baseline of identical generated files ({baseline.name}); "
                "--rerun-litdata to redo it"
            )
            continue
        env = {"PYTHONPATH": str(extra)} if side == "ours" and extra else {}
        junit = WORK / f"junit-{side}.xml"
        junit.unlink(missing_ok=True)
        print(f"\n[run] {side}: {python} ...", flush=True)
        info = run_pytest(python, gen_root, files, junit, args.timeout, args.budget, env)
        info["results"] = parse_junit(junit) or parse_verbose(info["verbose"])
        del info["verbose"]
        print(f"[run] {side}: rc={info['rc']} in {info['seconds']}s, {len(info['results'])} cases reported")
        sides[side] = info
        if side == "litdata" and info["rc"] in (0, 1):
            baseline.write_text(json.dumps(info))

    case_ids = [c for d in kept for c in d.cases]
    rows = []
    for cid in case_ids:
        lit = sides["litdata"]["results"].get(cid, {"outcome": "missing", "message": ""})
        our = sides["ours"]["results"].get(cid, {"outcome": "missing", "message": ""})
        rows.append(
            {
                "id": cid,
                "litdata": lit["outcome"],
                "ours": our["outcome"],
                "litdata_error": lit["message"] if lit["outcome"] in ("failed", "error") else "",
                "ours_error": our["message"] if our["outcome"] in ("failed", "error", "missing") else "",
                "litdata_s": lit.get("seconds"),
                "ours_s": our.get("seconds"),
            }
        )
    width = max(len(r["id"]) for r in rows)
    print(f"\n{'test id'.ljust(width)}  {'LitData':8}  {'ours':8}  first error line (ours)")
    for r in rows:
        print(f"{r['id'].ljust(width)}  {r['litdata']:8}  {r['ours']:8}  {r['ours_error'][:140]}")
    totals = {side: collections.Counter(r[side] for r in rows) for side in ("litdata", "ours")}
    both_pass = sum(r["litdata"] == "passed" and r["ours"] == "passed" for r in rows)
    lit_pass_ours_not = [r for r in rows if r["litdata"] == "passed" and r["ours"] != "passed"]
    groups = collections.Counter(categorize(r["ours_error"]) for r in lit_pass_ours_not)
    kept_fns = len(kept)
    fn_pass = {
        side: sum(
            all(sides[side]["results"].get(c, {}).get("outcome") == "passed" for c in d.cases) for d in kept
        )
        for side in ("litdata", "ours")
    }
    print(
        f"\n[totals] LitData's suite: {len(decisions)} functions / {len(collected)} cases; "
        f"kept {kept_fns} functions / {len(rows)} cases"
    )
    for side in ("litdata", "ours"):
        print(
            f"[totals] {side:8}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(totals[side].items()))
            + f"; functions fully passing {fn_pass[side]}/{kept_fns}"
        )
    print(f"[totals] pass on both: {both_pass}; pass on LitData but not ours: {len(lit_pass_ours_not)}")
    print("[totals] ours' failures (where LitData passes), grouped:")
    for reason, n in groups.most_common():
        print(f"  {n:4d}  {reason}")
    result.update(
        {
            "rows": rows,
            "totals": {k: dict(v) for k, v in totals.items()},
            "functions_fully_passing": fn_pass,
            "pass_both": both_pass,
            "ours_failure_groups": dict(groups),
            "runs": {s: {k: v for k, v in i.items() if k != "results"} for s, i in sides.items()},
            "seconds_total": round(time.monotonic() - t_start, 1),
        }
    )
    _write(result, args.label)
    return 0


def _write(result: dict, label: str, latest: bool = True) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"results-{label}.json"
    path.write_text(json.dumps(result, indent=1))
    if latest:
        (WORK / "results-latest.json").write_text(json.dumps(result, indent=1))
    print(f"\n[json] {path}")


if __name__ == "__main__":
    sys.exit(main())
