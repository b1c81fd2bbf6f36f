"""The package surface: cheap import, lazy public names, version in one place."""
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

import galmorph


def test_import_does_no_heavy_work():
    code = ("import sys, galmorph; "
            "print(sorted(m for m in ('torch', 'astropy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("name", [n for n in galmorph.__all__ if n != "__version__"])
def test_public_names_resolve(name):
    # The lazy attribute is the object its home module defines, not a stand-in.
    obj = getattr(galmorph, name)
    if isinstance(obj, types.ModuleType):                 # galmorph.schema and the like
        assert obj.__name__ == f"galmorph.{name}" and name in dir(galmorph)
        return
    home = getattr(obj, "__module__", None)
    assert home and home.startswith("galmorph."), (name, home)
    assert getattr(sys.modules[home], getattr(obj, "__name__", name)) is obj
    assert name in dir(galmorph)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Classifier'"):
        galmorph.Classifier  # noqa: B018


def test_version_matches_pyproject_and_citation():
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["version"] == galmorph.__version__
    assert f"version: {galmorph.__version__}" in (root / "CITATION.cff").read_text()


# Tests of several parts at once, beside the package-wide checks at the top of tests/.
CROSS_CUTTING = {"workflows/test_browser.py",   # the HTML reports in a real headless browser
                 "test_package.py", "test_core_deps.py", "test_docs.py", "test_benchmarks.py",
                 "test_cuda.py", "test_tools.py"}   # the last: the maintainers' tools/


def test_tests_mirror_the_modules():
    """tests/<subpackage>/test_<module>.py tests galmorph/<subpackage>/<module>.py (or its
    private _<module>.py, or a small subpackage <module>/ with no test folder of its own);
    test_<subpackage>.py there tests the subpackage's own namespace."""
    tests = Path(__file__).resolve().parent
    package = Path(galmorph.__file__).resolve().parent
    found = sorted(tests.rglob("test_*.py"))
    assert len(found) >= 40                   # a broken scan would pass vacuously
    for path in found:
        rel = path.relative_to(tests).as_posix()
        if rel in CROSS_CUTTING:
            continue
        folder = package.joinpath(*path.relative_to(tests).parts[:-1])
        stem = path.stem[len("test_"):]
        assert (folder / "__init__.py").is_file(), f"{rel}: galmorph has no {folder.name}/"
        assert (stem == folder.name or (folder / f"{stem}.py").is_file()
                or (folder / f"_{stem}.py").is_file() or (folder / f"_{stem}").is_dir()
                or ((folder / stem / "__init__.py").is_file()
                    and not (tests / path.relative_to(tests).parent / stem).is_dir())), \
            f"{rel} names no module of galmorph/{folder.relative_to(package.parent)}"


#: The style guide's ceiling for one module (../shared/STYLE.md: "a module reads in one sitting").
MAX_MODULE_LINES = 450


def test_no_module_is_over_the_style_guides_size():
    package = Path(galmorph.__file__).resolve().parent
    sizes = {p.relative_to(package.parent).as_posix(): len(p.read_text().splitlines())
             for p in package.rglob("*.py")}
    assert len(sizes) >= 50                   # a broken scan would pass vacuously
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them): {over}"
