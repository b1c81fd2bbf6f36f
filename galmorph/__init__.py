"""galmorph: Galaxy Zoo 2 morphology from images with convolutional networks.

The public API is imported lazily so that ``import galmorph`` stays cheap
(no torch import at start-up).
"""
from importlib import import_module

__version__ = "0.1.0.dev0"

__all__ = ["__version__", "MorphologyClassifier", "schema", "load_checkpoint",
           "merger_fraction", "redshift_trends", "gz2_selection"]

_LAZY = {
    "MorphologyClassifier": "galmorph.astro.classifier",
    "load_checkpoint": "galmorph.models.checkpoint",
    "merger_fraction": "galmorph.astro.mergers",
    "redshift_trends": "galmorph.astro.redshift",
    "gz2_selection": "galmorph.astro.catalog",
    "schema": "galmorph.schema",
}


def __getattr__(name):
    if name in _LAZY:
        module = import_module(_LAZY[name])
        return module if name == "schema" else getattr(module, name)
    raise AttributeError(f"module 'galmorph' has no attribute {name!r}")


def __dir__():
    # The lazy names are part of the public API: list them (tab completion, dir()).
    return sorted(set(globals()) | set(__all__))
