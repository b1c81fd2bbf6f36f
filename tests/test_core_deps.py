"""Every third-party module that galmorph imports is declared in pyproject.toml.

Each ``.py`` file of the installed package is parsed (not imported) and every
absolute import collected, at module level and inside functions. A
third-party name must be in ``[project] dependencies`` unless each of its
imports is either inside a ``try`` that catches ``ImportError`` (an optional
speed-up with a fallback) or lazy (inside a function) *and* the distribution
is offered as an optional extra. Issue 9: scipy was imported by astropy's
cosmology through galmorph's diagnostics without being declared, and
``predict`` crashed after classifying every row.
"""
import ast
import copy
import re
import sys
from pathlib import Path

import pytest

import galmorph

PACKAGE = Path(galmorph.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"
#: Import name -> distribution name, where they differ (lower case, PEP 503 style).
DISTRIBUTIONS = {"PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn",
                 "skimage": "scikit-image", "cv2": "opencv-python"}
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements):
    return {_normalise(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r).group(1))
            for r in requirements}


def _catches_import_error(node):
    for handler in node.handlers:
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(t, ast.Name) and t.id in _IMPORT_ERRORS for t in types):
            return True
    return False


def _imports(node, lazy=False, guarded=False):
    """(top-level name, line, lazy, guarded) of every absolute import under ``node``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name.split(".")[0], node.lineno, lazy, guarded
        return
    if isinstance(node, ast.ImportFrom):
        if node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno, lazy, guarded
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        lazy = True
    if isinstance(node, ast.Try):
        for stmt in node.body:
            yield from _imports(stmt, lazy, guarded or _catches_import_error(node))
        for stmt in node.handlers + node.orelse + node.finalbody:
            yield from _imports(stmt, lazy, guarded)
        return
    for child in ast.iter_child_nodes(node):
        yield from _imports(child, lazy, guarded)


def _third_party_imports():
    """distribution -> [(file:line, lazy, guarded), ...] over the whole package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, line, lazy, guarded in _imports(tree):
            if name in sys.stdlib_module_names or name == "galmorph":
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            found.setdefault(_normalise(DISTRIBUTIONS.get(name, name)), []).append(
                (where, lazy, guarded))
    return found


def _undeclared(project):
    """Messages for the imports that ``project`` (pyproject's [project] table) lacks."""
    declared = _requirement_names(project.get("dependencies", []))
    extras = _requirement_names(r for reqs in project.get("optional-dependencies", {}).values()
                                for r in reqs)
    problems = []
    for dist, uses in sorted(_third_party_imports().items()):
        needed = [where for where, lazy, guarded in uses
                  if not guarded and not (lazy and dist in extras)]
        if needed and dist not in declared:
            problems.append(f"{dist} is imported at {', '.join(needed[:3])} but is not in "
                            f"pyproject.toml [project] dependencies: declare it, or import it "
                            f"lazily for an optional extra or under try/except ImportError")
    return problems


@pytest.fixture(scope="module")
def project():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    if not PYPROJECT.is_file():
        pytest.skip(f"galmorph at {PACKAGE} is not a source checkout (no pyproject.toml)")
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def test_every_third_party_import_is_declared(project):
    problems = _undeclared(project)
    assert not problems, "\n".join(problems)


def test_the_audit_sees_imports_inside_functions_and_names_them(project):
    uses = _third_party_imports()
    assert any(lazy for _, lazy, _ in uses["scipy"])  # separation.py imports it lazily
    assert "pillow" in uses and "PIL" not in uses  # mapped to the distribution
    assert all(guarded for _, _, guarded in uses.get("photutils", [(None, True, True)]))
    without = copy.deepcopy(project)
    without["dependencies"] = [r for r in without["dependencies"]
                               if _requirement_names([r]) != {"scipy"}]
    assert len(without["dependencies"]) == len(project["dependencies"]) - 1
    problems = _undeclared(without)
    assert any(p.startswith("scipy is imported at galmorph/") for p in problems)


def test_guards_and_extras_are_told_apart():
    tree = ast.parse("import numpy\n"
                     "try:\n    import photutils\nexcept (ImportError, OSError):\n    pass\n"
                     "try:\n    import torchvision\nexcept ValueError:\n    pass\n"
                     "def f():\n    from yaml import safe_load\n")
    got = {name: (lazy, guarded) for name, _, lazy, guarded in _imports(tree)}
    assert got == {"numpy": (False, False), "photutils": (False, True),
                   "torchvision": (False, False), "yaml": (True, False)}
