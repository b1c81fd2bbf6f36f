# Sphinx configuration for the galmorph documentation.
#
# Build (offline, warnings as errors, as .ci/run does):
#   pip install torch==2.13.0 -e ".[docs]"
#   python -m sphinx -q -W --keep-going -b html docs docs/_build/html
#
# What is generated at build time (all of it under the git-ignored docs/generated/):
# - generated/modules/<module>.rst: one page per public module, each an ``automodapi``
#   directive, which documents exactly the names in the module's ``__all__``;
# - generated/api/: the per-object pages automodapi writes;
# - generated/tutorials/, generated/examples/: the tutorials (docs/tutorials/*.py) and the
#   scripts of examples/, executed by sphinx-gallery, with their real printed output and figures.
import importlib
import os
import pkgutil
import sys
from pathlib import Path

import galmorph

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))   # gallery_scraper

project = "galmorph"
author = "The galmorph developers"
copyright = "2026, The galmorph developers"
version = release = galmorph.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    "sphinx_gallery.gen_gallery",
    "myst_parser",          # BENCHMARKS.md, included on benchmarks.rst
]
source_suffix = {".rst": "restructuredtext"}   # .md files are included, not pages
myst_enable_extensions = []
# BENCHMARKS.md is included below the page's own title, so its sections start at "##"; its
# links to repository files (benchmarks/x.py) are not pages here. Only that file is Markdown.
suppress_warnings = ["myst.header", "myst.xref_missing"]
# docs/tutorials/ holds the tutorial sources; sphinx-gallery writes their pages to generated/.
exclude_patterns = ["_build", "tutorials"]

# --- API reference --------------------------------------------------------------------------
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
automodapi_toctreedirnm = "generated/api"
automodapi_inheritance_diagram = False   # would need graphviz
automodsumm_inherited_members = False
autodoc_typehints = "none"               # the numpydoc sections say the types, in words
# numpydoc's docstring checks, as warnings (so errors under -W): PR02, every documented
# parameter exists. GALMORPH_NUMPYDOC_CHECKS=PR01,PR03,... tries more of them locally.
numpydoc_validation_checks = set(
    os.environ.get("GALMORPH_NUMPYDOC_CHECKS", "PR02").split(",")) - {""}

# Public modules: not under a name starting with "_", not the command line (``galmorph.cli``
# is argparse plumbing; its commands are documented in the user guide), not a deprecated
# alias (DEPRECATED_MODULES, below) and with a non-empty
# ``__all__`` (a package whose ``__init__`` only explains its sub-modules has nothing to list).
# Old module paths kept importable after a move (issue 29): each re-exports its new home, which
# has the page, and warns on import.
DEPRECATED_MODULES = ("galmorph.workflows.report_run", "galmorph.workflows.report_catalog",
                      "galmorph.workflows.report_document", "galmorph.workflows.survey_write")
API_EXCLUDE = ("galmorph.cli", "galmorph.__main__", *DEPRECATED_MODULES,
               # for a quick local build around a module being written: comma-separated names
               *filter(None, os.environ.get("GALMORPH_DOCS_API_SKIP", "").split(",")))
API_GROUPS = [
    ("The GZ2 tree, its labels, errors and settings", ["galmorph.schema", "galmorph.labels",
                                                      "galmorph.errors",
                                                      "galmorph.paths", "galmorph.runtime"]),
    ("Data", ["galmorph.data"]),
    ("Synthetic galaxies", ["galmorph.synth"]),
    ("Models", ["galmorph.models"]),
    ("Metrics and augmentation", ["galmorph.metrics", "galmorph.augment"]),
    ("Training", ["galmorph.training"]),
    ("Inference", ["galmorph.inference"]),
    ("How far to trust an answer", ["galmorph.trust"]),
    ("Astronomy", ["galmorph.astro"]),
    ("Figures", ["galmorph.plots"]),
    ("Workflows", ["galmorph.workflows"]),
]


def is_private(name):
    """True for ``galmorph._x``, ``galmorph.a._b`` and the command line."""
    parts = name.split(".")
    return (any(p.startswith("_") for p in parts[1:])
            or any(name == e or name.startswith(e + ".") for e in API_EXCLUDE))


def public_modules():
    """Names of the modules the API reference documents, sorted."""
    names = []
    for info in pkgutil.walk_packages(galmorph.__path__, "galmorph."):
        if is_private(info.name):
            continue
        module = importlib.import_module(info.name)
        if getattr(module, "__all__", None):
            names.append(info.name)
    return sorted(names)


def group_of(name):
    """The API_GROUPS title a module belongs to ("Other" if none)."""
    for title, prefixes in API_GROUPS:
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return title
    return "Other"


def module_page(name):
    """The reST source of one module's page: the module docstring and its ``__all__``."""
    return f".. automodapi:: {name}\n   :include-all-objects:\n"


def api_index(modules):
    """The reST of the grouped tables of contents included by api.rst."""
    lines = []
    for title, _ in API_GROUPS + [("Other", [])]:
        members = [m for m in modules if group_of(m) == title]
        if not members:
            continue
        lines += [title, "-" * len(title), "", ".. toctree::", "   :maxdepth: 1", ""]
        lines += [f"   /generated/modules/{m}" for m in members] + [""]
    return "\n".join(lines)


def _write_if_changed(path, text):
    # Unchanged files keep their time stamps, so an incremental build rereads nothing.
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def write_api_pages(app=None, config=None):
    """Write generated/modules/*.rst and generated/api_index.rst (before sources are read)."""
    out = DOCS / "generated"
    modules = public_modules()
    for name in modules:
        _write_if_changed(out / "modules" / f"{name}.rst", module_page(name))
    for stale in (out / "modules").glob("*.rst"):
        if stale.stem not in modules:
            stale.unlink()
    # automodapi's per-object pages of a module no longer documented would be orphans.
    for stale in (out / "api").glob("*.rst"):
        if not any(stale.stem.startswith(m + ".") for m in modules):
            stale.unlink()
    _write_if_changed(out / "api_index.rst", api_index(modules))


# --- Executed tutorials and the examples gallery (sphinx-gallery) ----------------------------
# Every script runs in the build process, offline: the tutorials on the shipped model, the 24
# bundled galaxies and tiny synthetic sets (about a minute in all on two cores). Steps that need
# the network or hours show saved output in the text and say so. Scripts whose path matches
# "filename_pattern" are executed; examples/paper_figures.py (needs a data folder and a run)
# and examples/synth_grid.py (minutes) are shown as code with their saved figures.
sphinx_gallery_conf = {
    "examples_dirs": ["tutorials", "../examples"],
    "gallery_dirs": ["generated/tutorials", "generated/examples"],
    "filename_pattern": r"(tutorials/t\d_.*|examples/classify_catalog)\.py$",
    "ignore_pattern": r"(__init__|conftest)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "abort_on_example_error": True,     # a failing script fails the build at once
    "remove_config_comments": True,
    # galmorph's figures are bare Figures (no pyplot): show those left in a variable.
    "image_scrapers": ("matplotlib", "gallery_scraper.galmorph_figures"),
    "write_computation_times": False,   # no sg_execution_times.rst in the source folder
}
os.environ.setdefault("MPLBACKEND", "Agg")

# --- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"galmorph {release}"
html_static_path = ["_static"]
html_css_files = ["galmorph.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 4,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
html_copy_source = False

# Intersphinx is off: its inventories would need the network, and the build is offline with
# warnings as errors (.ci/run). These are the targets it would use.
_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "astropy": ("https://docs.astropy.org/en/stable/", None),
    "astroquery": ("https://astroquery.readthedocs.io/en/latest/", None),
    "torch": ("https://pytorch.org/docs/stable/", None),
}


def write_benchmarks(app=None, config=None):
    """Copy BENCHMARKS.md to generated/, for benchmarks.rst to include.

    It names its figures from the repository root (``docs/_static/...``), as GitHub shows
    it; for Sphinx they are ``/_static/...`` (from the source folder).
    """
    text = (DOCS.parent / "BENCHMARKS.md").read_text(encoding="utf-8")
    _write_if_changed(DOCS / "generated" / "BENCHMARKS.md",
                      text.replace("](docs/_static/", "](/_static/"))


def setup(app):
    app.connect("config-inited", write_benchmarks)
    # "config-inited" runs before Sphinx looks for source files, so the generated module
    # pages are found like any other page.
    app.connect("config-inited", write_api_pages)
