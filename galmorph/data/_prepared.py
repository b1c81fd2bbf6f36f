"""The prepared cache as :func:`~galmorph.data.cache.prepare` returns it (public there).

Its own module so that ``cache`` and ``_combine`` (which builds one from several) both
import it, and neither imports the other at load time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["PreparedData"]


@dataclass
class PreparedData:
    """A prepared cache, as returned by :func:`prepare` and :func:`open_prepared`.

    Attributes
    ----------
    images : numpy.memmap
        ``uint8 (N, 3, size, size)``, read-only memory map.
    labels : numpy.ndarray or None
        ``float32 (N, 37)`` Kaggle weighted fractions, ``None`` without labels.
    ids : numpy.ndarray
        ``int64`` IDs, or file stems (``str``), aligned with ``images``.
    meta : dict
        The contents of ``meta.json``.
    path : pathlib.Path
        The cache folder.
    reused : bool
        True when :func:`prepare` found the cache up to date.
    parts : list of dict
        Where several data folders were combined (:func:`combine`): one
        ``{"source", "cache", "n"}`` per folder, in row order; else empty.
    """

    images: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray
    meta: dict
    path: Path
    reused: bool = field(default=False, compare=False)
    parts: list = field(default_factory=list, compare=False)

    @property
    def folder_index(self):
        """``int (N,)``: which of :attr:`parts` each row comes from (all 0 for one folder)."""
        if not self.parts:
            return np.zeros(len(self), dtype=np.int64)
        return np.repeat(np.arange(len(self.parts)), [p["n"] for p in self.parts])

    def __len__(self):
        return int(self.images.shape[0])

    @property
    def preprocessing(self):
        """``{"crop": ..., "size": ...}``, as checkpoints store it."""
        return {"crop": self.meta["crop"], "size": self.meta["size"]}

    def __repr__(self):
        return (f"PreparedData(n={len(self)}, size={self.meta['size']}, crop={self.meta['crop']}, "
                f"labels={self.labels is not None}, path='{self.path}')")
