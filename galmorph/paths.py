"""Where galmorph keeps things on the user's machine.

Everything lives under one cache directory: ``$GALMORPH_CACHE_DIR`` when set,
else ``$XDG_CACHE_HOME/galmorph``, else ``~/.cache/galmorph``. Inside it:

- ``prepared/``   preprocessing caches built by ``galmorph prepare``;
- ``cutouts/``    SDSS cutouts fetched by RA/Dec;
- ``default_model.json``  the model registered by ``galmorph train --set-default``.

The model that ships inside the package (trained on real GZ2 galaxies, see
``galmorph models --card``) lives in ``galmorph/weights/``; it is used where
no model is given, ``$GALMORPH_MODEL`` is unset and none is registered.
"""
import json
import os
from pathlib import Path

from galmorph._util._atomic import write_text_atomic
from galmorph.errors import NoModelError

__all__ = ["cache_dir", "default_model_path", "set_default_model", "resolve_model_path",
           "model_source", "WEIGHTS_DIR", "SHIPPED_MODEL", "shipped_model_path",
           "shipped_card_path"]

_REGISTRY = "default_model.json"

#: Package folder of the shipped model's weights and card.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: File stem of the shipped model: ``<stem>.pt`` (weights), ``<stem>.json`` (card and sha256).
SHIPPED_MODEL = "gz2_resnet18_cpu"


def shipped_model_path():
    """The checkpoint of the model shipped in the package, or None where it is absent."""
    path = WEIGHTS_DIR / f"{SHIPPED_MODEL}.pt"
    return path if path.is_file() else None


def shipped_card_path():
    """The card (metadata, metrics and sha256) of the shipped model."""
    return WEIGHTS_DIR / f"{SHIPPED_MODEL}.json"


def cache_dir(sub=None):
    """The galmorph cache directory (created on demand), or a sub-folder of it."""
    root = os.environ.get("GALMORPH_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        path = (Path(xdg) if xdg else Path.home() / ".cache") / "galmorph"
    if sub:
        path = path / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_default_model(checkpoint):
    """Register ``checkpoint`` as the model ``MorphologyClassifier()`` uses by default."""
    checkpoint = Path(checkpoint).resolve()
    if not checkpoint.is_file():
        raise FileNotFoundError(f"cannot register {checkpoint} as default model: no such file")
    write_text_atomic(cache_dir() / _REGISTRY, json.dumps({"checkpoint": str(checkpoint)}))
    return checkpoint


def default_model_path():
    """The registered default checkpoint, or None."""
    registry = cache_dir() / _REGISTRY
    if not registry.is_file():
        return None
    return Path(json.loads(registry.read_text())["checkpoint"])


_HOW_TO = ("Pass a checkpoint, e.g. MorphologyClassifier(model='runs/gz2/best.pt') or "
           "--model runs/gz2/best.pt, set the GALMORPH_MODEL environment variable, or train "
           "one and register it with 'galmorph train DATA_DIR --out RUN_DIR --set-default'.")


def model_source(model=None):
    """``(path, origin)`` of the model to use, in order of precedence.

    An explicit ``model`` path, then ``$GALMORPH_MODEL``, then the default
    registered by ``galmorph train --set-default``, then the model shipped in
    the package. ``origin`` says which (``"the given path"``,
    ``"$GALMORPH_MODEL"``, ``"the registered default model"``, ``"the shipped
    model"``).

    Raises
    ------
    NoModelError
        The chosen file does not exist, or nothing is given and this
        installation has no shipped model.
    """
    if model is not None:
        path, origin = Path(model), "the given path"
    elif os.environ.get("GALMORPH_MODEL"):
        path, origin = Path(os.environ["GALMORPH_MODEL"]), "$GALMORPH_MODEL"
    elif default_model_path() is not None:
        path, origin = default_model_path(), "the registered default model"
    else:
        path, origin = shipped_model_path(), "the shipped model"
        if path is None:
            raise NoModelError("no galmorph model given, no default registered, and this "
                               f"installation lacks the shipped model ({WEIGHTS_DIR}). "
                               + _HOW_TO)
    if not path.is_file():
        raise NoModelError(f"checkpoint {path} (from {origin}) does not exist. " + _HOW_TO)
    return path, origin


def resolve_model_path(model=None):
    """The checkpoint to use: see :func:`model_source` for the order."""
    return model_source(model)[0]
