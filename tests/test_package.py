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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
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
