# Sphinx configuration for the galmorph documentation.
# Build with:  pip install torch==2.13.0 -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html
import galmorph

project = "galmorph"
author = "The galmorph developers"
copyright = "2026, The galmorph developers"
version = release = galmorph.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]
numpydoc_show_class_members = False
autosummary_generate = True
# The docs build offline, with warnings as errors (.ci/run), so intersphinx is off: its
# inventories would need the network. These are the targets it would use.
_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "astropy": ("https://docs.astropy.org/en/stable/", None),
    "astroquery": ("https://astroquery.readthedocs.io/en/latest/", None),
    "torch": ("https://pytorch.org/docs/stable/", None),
}
html_theme = "alabaster"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
