"""The documentation's checks that are quick enough for the test suite.

The docs build itself (Sphinx, executing the tutorials) runs in .ci/run, not here: it takes
minutes. Here: the doctests of every public module, run in-process; the API reference's
module list against the package's public modules and their ``__all__``; the gallery's
execution pattern against the tutorial files; the citing page against CITATION.cff.
"""
import doctest
import importlib
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "galmorph"
DOCS = ROOT / "docs"


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _public_module_files():
    """Module name -> file of every public module, found from the files (not from conf.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        parts = name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or parts[1:2] == ["cli"]:
            continue
        found[name] = path
    return found


PUBLIC = _public_module_files()
WITH_EXAMPLES = sorted(n for n, p in PUBLIC.items() if ">>>" in p.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def conf():
    """docs/conf.py's namespace (it imports galmorph only; it writes nothing when loaded)."""
    return runpy.run_path(str(DOCS / "conf.py"))


# ---------------------------------------------------------------- doctests

def test_doctest_modules_are_found():
    # The examples are spread over the public API; a broken scan would pass vacuously.
    assert len(WITH_EXAMPLES) >= 20
    assert "galmorph.schema" in WITH_EXAMPLES and "galmorph.data.images" in WITH_EXAMPLES
    assert not any(n.startswith(("galmorph._", "galmorph.cli")) for n in WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_doctests(name, tmp_path, monkeypatch):
    """The examples in the docstrings of a public module run and print what they say."""
    monkeypatch.chdir(tmp_path)           # an example that writes a file writes it here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in finder.find(module, name):    # globals: a copy of the module's
        if test.filename is None or Path(test.filename).resolve() != PUBLIC[name].resolve():
            continue                      # re-exported objects are tested in their own module
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)


# ---------------------------------------------------------------- API reference

def test_api_reference_documents_the_public_modules_only(conf):
    documented = conf["public_modules"]()
    expected = []
    for name in PUBLIC:
        # The top-level namespace is listed by hand on api.rst (see the test below); a
        # deprecated alias of a moved module is documented at the module's new home.
        if name == "galmorph" or name in conf["DEPRECATED_MODULES"]:
            continue
        if getattr(importlib.import_module(name), "__all__", None):
            expected.append(name)
    assert documented == sorted(expected)
    assert "galmorph.astro.classifier" in documented and "galmorph.schema" in documented
    for name in documented:
        assert not any(p.startswith("_") for p in name.split(".")[1:]), name
        assert not name.startswith("galmorph.cli"), name
    # Every documented module appears once in the grouped index, on a page of its own.
    index = conf["api_index"](documented)
    for name in documented:
        assert index.count(f"/generated/modules/{name}\n") == 1, name
        assert f".. automodapi:: {name}\n" in conf["module_page"](name)
    assert conf["is_private"]("galmorph._util._io") and conf["is_private"]("galmorph.cli.train")
    assert not conf["is_private"]("galmorph.astro.mergers")


# Names of ``__all__`` that automodapi cannot document because a sub-module of the same name
# replaces the lazy attribute once imported (none since galmorph.inference.evaluate became
# galmorph.inference.evaluation).
KNOWN_SHADOWED = {}


def test_api_pages_list_exactly_each_modules_all(conf):
    utils = pytest.importorskip("sphinx_automodapi.utils", reason="the docs extra is not "
                                "installed (pip install -e '.[docs]')")
    for name in conf["public_modules"]():
        module = importlib.import_module(name)
        local, _, _ = utils.find_mod_objs(name, onlylocals=True)
        assert set(local) <= set(module.__all__), name
        assert set(module.__all__) - set(local) == KNOWN_SHADOWED.get(name, set()), name
        assert not [n for n in module.__all__ if n.startswith("_")], name


def test_api_page_lists_the_top_level_namespace():
    import galmorph

    text = (DOCS / "api.rst").read_text()
    table = text.split("The top-level namespace", 1)[1].split(".. include::", 1)[0]
    listed = re.findall(r"^   \* - ``galmorph\.(\w+)``", table, flags=re.M)
    assert sorted(listed) == sorted(galmorph.__all__)


def test_docs_extra_installs_every_extension_and_the_theme(conf):
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = {re.split(r"[<>=!~ ;\[]", req, maxsplit=1)[0].lower().replace("_", "-")
             for req in project["optional-dependencies"]["docs"]}
    needed = {ext.split(".")[0].replace("_", "-") for ext in conf["extensions"]
              if not ext.startswith("sphinx.ext.")}
    needed.add(conf["html_theme"].replace("_", "-"))
    assert needed == {"numpydoc", "sphinx-automodapi", "sphinx-gallery", "myst-parser",
                      "pydata-sphinx-theme"}
    assert needed <= extra, needed - extra
    assert "sphinx" in extra
    # Offline: intersphinx would fetch inventories.
    assert "sphinx.ext.intersphinx" not in conf["extensions"]


# ---------------------------------------------------------------- executed pages

def test_every_tutorial_and_example_is_in_the_gallery(conf):
    gallery = conf["sphinx_gallery_conf"]
    pattern = re.compile(gallery["filename_pattern"])
    tutorials = sorted((DOCS / "tutorials").glob("*.py"))
    assert [p.name[:3] for p in tutorials] == ["t1_", "t2_", "t3_", "t4_", "t5_", "t6_"]
    for path in tutorials:                                # all six run at build time
        assert pattern.search(path.as_posix()), path.name
        assert path.read_text().startswith('"""\n'), path.name   # a gallery title block
    examples = {p.stem: p for p in (ROOT / "examples").glob("*.py")}
    assert pattern.search(examples["classify_catalog"].as_posix())
    assert not pattern.search(examples["paper_figures"].as_posix())   # needs data and a run
    for path in examples.values():
        title = path.read_text().split("\n")[1:3]
        assert title[1] == "=" * len(title[0]) and title[0], path.name
    assert gallery["examples_dirs"] == ["tutorials", "../examples"]
    assert all(d.startswith("generated/") for d in gallery["gallery_dirs"])  # git-ignored


def test_index_links_the_galleries_and_pages():
    index = (DOCS / "index.rst").read_text()
    for page in ("generated/tutorials/index", "generated/examples/index", "api", "citing",
                 "model_card", "data", "benchmarks"):
        assert re.search(rf"^   {re.escape(page)}$", index, flags=re.M), page


# ---------------------------------------------------------------- citing

def _words(text):
    return " ".join(text.split())


def test_citing_page_matches_citation_cff():
    yaml = pytest.importorskip("yaml", reason="PyYAML reads CITATION.cff")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    page = _words((DOCS / "citing.rst").read_text())
    for key in ("title", "version", "license"):
        assert str(cff[key]) in page, key
    assert str(cff["date-released"]) in page
    for author in cff["authors"]:
        assert author["name"] in page
    assert cff["message"].split(",")[0] in page           # "If you use galmorph ..."
    assert page.count("@article{") == len(cff["references"])
    for ref in cff["references"]:
        assert _words(ref["title"]) in page, ref["title"]
        for key in ("journal", "volume", "start", "year", "doi"):
            assert str(ref[key]) in page, (ref["title"], key)
        for person in ref["authors"]:
            assert person["family-names"] in page, person
        assert f"https://doi.org/{ref['doi']}" in page
    bib = page.split("@software{galmorph,", 1)[1].split("}", 1)[0]
    assert "The galmorph developers" in bib


def test_package_version_matches_citation():
    import galmorph

    text = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(galmorph.__version__)}$", text, flags=re.M)


# ---------------------------------------------------------------- numpydoc

def _public_functions():
    """(module, name, arguments) of every public function and public method of a public class
    in the public modules, found from the source (no import)."""
    import ast

    for name, path in PUBLIC.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            owners = [(None, node)] if isinstance(node, ast.FunctionDef) else []
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                owners = [(node, m) for m in node.body if isinstance(m, ast.FunctionDef)]
            for cls, fn in owners:
                if fn.name.startswith("_") and fn.name != "__init__":
                    continue
                a = fn.args
                args = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs
                        if x.arg not in ("self", "cls")]
                doc = ast.get_docstring(cls if fn.name == "__init__" else fn) or ""
                yield name, f"{cls.name + '.' if cls else ''}{fn.name}", args, doc


def test_public_functions_with_two_arguments_document_them():
    found = list(_public_functions())
    assert len(found) > 200                   # a broken scan would pass vacuously
    missing = [f"{module}.{name}({', '.join(args)})" for module, name, args, doc in found
               if len(args) >= 2 and "Parameters\n---" not in doc]  # docstrings dedented
    assert not missing, "no numpydoc Parameters section:\n" + "\n".join(missing)
