"""Where galmorph keeps things on the user's machine.

Everything lives under one cache directory: ``$GALMORPH_CACHE_DIR`` when set,
else ``$XDG_CACHE_HOME/galmorph``, else ``~/.cache/galmorph``. Inside it:

- ``prepared/``   preprocessing caches built by ``galmorph prepare``;
- ``cutouts/``    SDSS cutouts fetched by RA/Dec;
- ``default_model.json``  the model registered by ``galmorph train --set-default``.
"""
import json
import os
from pathlib import Path

from galmorph._atomic import write_text_atomic
from galmorph.errors import NoModelError

__all__ = ["cache_dir", "default_model_path", "set_default_model", "resolve_model_path"]

_REGISTRY = "default_model.json"


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


_HOW_TO = ("Pass a checkpoint, e.g. MorphologyClassifier(model='runs/gz2/best.pt'), set the "
           "GALMORPH_MODEL environment variable, or train one and register it with "
           "'galmorph train DATA_DIR --model resnet18-tailored --out RUN_DIR --set-default' "
           "(try 'galmorph demo' for a quick offline model).")


def resolve_model_path(model=None):
    """Resolve the model argument: explicit path, then $GALMORPH_MODEL, then the registry."""
    if model is not None:
        path, origin = Path(model), "the given path"
    elif os.environ.get("GALMORPH_MODEL"):
        path, origin = Path(os.environ["GALMORPH_MODEL"]), "$GALMORPH_MODEL"
    else:
        path, origin = default_model_path(), "the registered default model"
        if path is None:
            raise NoModelError("no galmorph model given and no default registered. " + _HOW_TO)
    if not path.is_file():
        raise NoModelError(f"checkpoint {path} (from {origin}) does not exist. " + _HOW_TO)
    return path
