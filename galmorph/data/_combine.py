"""Joining prepared caches: :func:`combine` trains or evaluates on several data folders
as one set, and refuses (or leaves out) a galaxy that two folders hold under different IDs.

Public as :func:`galmorph.data.cache.combine` and :func:`galmorph.data.combine`.
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np

from galmorph._util._jsonable import plain
from galmorph.data._validate import ON_ERROR, CatalogWarning, _user_stacklevel
from galmorph.errors import DataError, ParameterError

__all__ = ["combine"]

_ON_ERROR = ON_ERROR


def _shared_galaxies(datas, on_error):
    """Rows to keep of each part, and skip entries, where a later part repeats an image.

    A row whose pixels equal a row of an earlier part is the same galaxy under
    another ID (the same cutout in a GZ2 release folder and a Kaggle folder, say).
    """
    seen, same = {}, []
    for k, d in enumerate(datas):
        for row, image in enumerate(np.asarray(d.images)):
            digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()
            if digest in seen and seen[digest][0] != k:
                same.append((k, row, *seen[digest]))
            else:
                seen.setdefault(digest, (k, row))
    keep = [np.ones(len(d), dtype=bool) for d in datas]
    if not same:
        return keep, []
    where = [str(d.meta.get("source") or d.path) for d in datas]
    pairs = [(f"galaxy {plain(datas[k].ids[row])!r} of {where[k]}",
              f"galaxy {plain(datas[j].ids[first])!r} of {where[j]}")
             for k, row, j, first in same]
    more = f"; and {len(pairs) - 3} more" if len(pairs) > 3 else ""
    if on_error != "skip":
        count = "1 galaxy is" if len(pairs) == 1 else f"{len(pairs)} galaxies are"
        raise DataError(f"{count} in two data folders under different IDs (the same pixels): "
                        f"{'; '.join(f'{a} is {b}' for a, b in pairs[:3])}{more}. One galaxy "
                        f"in two folders can fall on both sides of the validation split. Leave "
                        f"them out of one folder, or pass --on-error skip (on_error='skip' in "
                        f"Python) to leave out the later folder's copies")
    count = "1 galaxy" if len(pairs) == 1 else f"{len(pairs)} galaxies"
    warnings.warn(f"left out {count} whose image is also in an earlier data folder: "
                  f"{'; '.join(f'{a} (= {b})' for a, b in pairs[:3])}{more}", CatalogWarning,
                  stacklevel=_user_stacklevel())
    for k, row, _, _ in same:
        keep[k][row] = False
    return keep, [[str(plain(datas[k].ids[row])), f"same image as {b}"]
                  for (k, row, _, _), (_, b) in zip(same, pairs)]


def combine(datas, on_error="auto"):
    """One :class:`PreparedData` of several, rows in order (images copied into memory).

    Used to train on several data folders at once (``galmorph train DIR1 DIR2``).
    Every part must have the same crop and size and labels (``NaN`` where a
    folder lacks a question), and a galaxy may appear in one part only: by ID,
    and by image (the same pixels under two IDs, as when a GZ2 release folder
    and a Kaggle folder hold the same SDSS cutout), since one galaxy in two
    folders can fall on both sides of a validation split.

    Parameters
    ----------
    datas : list of PreparedData
    on_error : {"auto", "raise", "skip"}
        A galaxy whose image is also in an earlier part: stop with an error
        naming both (``"auto"``, the default, or ``"raise"``), or leave out
        the later copy (with a :class:`~galmorph.data.catalogs.CatalogWarning`;
        listed in ``meta["skipped"]``).

    Returns
    -------
    PreparedData
        ``parts`` names each folder; ``path`` is the first part's cache.

    Raises
    ------
    galmorph.errors.DataError
        Parts that differ in crop or size, lack labels or share a galaxy.
    """
    datas = list(datas)
    if len(datas) == 1:
        return datas[0]
    first = datas[0]
    for d in datas[1:]:
        for key in ("crop", "size"):
            if d.meta.get(key) != first.meta.get(key):
                raise DataError(f"caches {first.path} and {d.path} differ in {key} "
                                f"({first.meta.get(key)} vs {d.meta.get(key)}); prepare both "
                                f"data folders with the same --crop and --size")
    no_labels = [str(d.meta.get("source") or d.path) for d in datas if d.labels is None]
    if no_labels:
        raise DataError(f"{no_labels[0]} has no labels; every data folder of a training run "
                        f"needs labelled galaxies")
    seen = {}
    for d in datas:
        where = str(d.meta.get("source") or d.path)
        for value in d.ids.tolist():
            if value in seen:
                raise DataError(f"galaxy ID {value!r} is in both {seen[value]} and {where}; "
                                f"the data folders of one run must not share galaxies")
            seen[value] = where
    if on_error not in _ON_ERROR:
        raise ParameterError(f"on_error must be one of {', '.join(map(repr, _ON_ERROR))}, "
                             f"not {on_error!r}")
    keep, shared = _shared_galaxies(datas, on_error)
    skipped = [s for d in datas for s in d.meta.get("skipped", [])] + shared
    where = [str(d.meta.get("source") or d.path) for d in datas]
    def kept(a, m):
        return a if m.all() else a[m]

    ids = np.concatenate([kept(np.asarray(d.ids, dtype=object), m) for d, m in zip(datas, keep)])
    if all(np.asarray(d.ids).dtype.kind in "iu" for d in datas):
        ids = ids.astype(np.int64)
    parts = [{"source": w, "cache": str(d.path), "n": int(m.sum())}
             for w, d, m in zip(where, datas, keep)]
    meta = {**first.meta, "source": None, "layout": "combined", "parts": parts,
            "skipped": skipped, "n": len(ids)}
    # Built as the parts are (PreparedData, from galmorph.data.cache, which imports this
    # module: naming the class here would tie the two into a circle).
    return type(first)(images=np.concatenate([kept(np.asarray(d.images), m)
                                              for d, m in zip(datas, keep)]),
                       labels=np.concatenate([kept(d.labels, m) for d, m in zip(datas, keep)]),
                       ids=ids, meta=meta, path=first.path, parts=parts)
