"""Validation helpers behind :mod:`galmorph.data.catalogs`.

The catalog readers run a fixed sequence of checks, one *kind* of problem at
a time (missing images, duplicate IDs, NaN, tree breaks, ...). A
:class:`Policy` decides what happens to the rows that fail: with
``on_error="raise"`` the first kind that has any stops the read with a
:class:`~galmorph.errors.DataError` listing every failing row of that kind
(the first few in full plus a count); with ``on_error="skip"`` they are
dropped and recorded, so that nothing is ever lost silently.

This module also holds the cheap image-header probe (PIL's lazy
``Image.open``, no pixel decode) and the file fingerprints that go into
``Catalog.sources``.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import schema
from ..errors import DataError

__all__ = ["ON_ERROR", "IMAGE_SUFFIXES", "Issue", "Policy", "CatalogWarning",
           "Rows", "image_suffix", "image_stem", "parse_int_id", "index_images",
           "match_images", "duplicate_issues", "value_issues",
           "tree_issues", "probe_image", "check_image_headers", "file_record",
           "images_fingerprint"]

#: Accepted values of ``on_error``.
ON_ERROR = ("raise", "skip")

#: Image file endings galmorph reads, longest first so ``.fits.gz`` wins over ``.gz``.
IMAGE_SUFFIXES = (".fits.gz", ".fit.gz", ".jpeg", ".fits", ".jpg", ".png", ".fit")

# PIL format hints by suffix: naming the format skips PIL's probing of every
# plugin, which makes the header check about 4x faster (0.16 s per 5,000 JPEGs).
_PIL_FORMATS = {".jpg": ["JPEG"], ".jpeg": ["JPEG"], ".png": ["PNG"]}
_INT_RE = re.compile(r"^[0-9]{1,18}$")  # up to 18 digits always fits int64


class CatalogWarning(UserWarning):
    """Rows or files were skipped while reading a catalog (``on_error="skip"``)."""


def image_suffix(path):
    """The galmorph image suffix of ``path`` (lower case) or ``None`` if unsupported."""
    name = os.path.basename(path).lower()
    if name.endswith(IMAGE_SUFFIXES) and not name.startswith("."):
        for suffix in IMAGE_SUFFIXES:
            if name.endswith(suffix):
                return suffix
    return None


def image_stem(path):
    """File name without its image suffix: ``"587.fits.gz"`` -> ``"587"``."""
    name = Path(path).name
    suffix = image_suffix(path)
    return name[: len(name) - len(suffix)] if suffix else Path(path).stem


def parse_int_id(value):
    """``int`` for a decimal integer string (or integer), else ``None``."""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.endswith(".0"):  # IDs that went through a float column, e.g. "100008.0"
        text = text[:-2]
    return int(text) if _INT_RE.match(text) else None


@dataclass
class Issue:
    """One failing row or file.

    ``pos`` is the row's position among the candidate rows (``None`` for a
    file that is not a row, e.g. an image without labels), ``key`` the
    galaxy ID or file recorded in ``Catalog.skipped`` and ``detail`` a
    one-line description naming the file, row and column.
    """

    pos: int | None
    key: object
    detail: str


class Policy:
    """Applies ``on_error`` to each kind of problem in turn.

    Parameters
    ----------
    on_error : {"raise", "skip"}
    limit : int
        How many failing rows an error message lists in full.
    """

    def __init__(self, on_error="raise", limit=10):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        self.limit = limit
        self.skipped = []  # (id_or_file, reason)

    def handle(self, reason, header, issues, hint=""):
        """Raise for, or record, one kind of problem.

        Parameters
        ----------
        reason : str
            Short name of the kind (``"missing image"``), prefixed to each
            skip reason.
        header : str
            First line of the error, with the count and the file(s) concerned.
        issues : list of Issue
        hint : str
            What the user can do about it.

        Returns
        -------
        set of int
            Positions of the candidate rows to drop (empty when no issues).
        """
        if not issues:
            return set()
        if self.on_error == "raise":
            raise DataError(self.format(header, issues, hint))
        self.skipped.extend((i.key, f"{reason}: {i.detail}") for i in issues)
        return {i.pos for i in issues if i.pos is not None}

    def format(self, header, issues, hint=""):
        lines = [header.rstrip(":") + ":"]
        lines += [f"  {i.detail}" for i in issues[: self.limit]]
        if len(issues) > self.limit:
            lines.append(f"  ... and {len(issues) - self.limit} more "
                         f"({len(issues)} in all)")
        tail = (hint + " " if hint else "") + (
            "Or pass on_error='skip' to leave them out; they are then listed in "
            "Catalog.skipped and in the skip report.")
        lines.append(tail)
        return "\n".join(lines)


class Rows:
    """Candidate rows of a label table while they are being validated.

    Holds the table (``frame``), the galaxy IDs, a readable location of each
    row (``"training_solutions_rev1.csv line 7"``) and, once computed, the
    ``(N, 37)`` labels, and drops rows from all of them together.
    """

    def __init__(self, frame, ids, where, id_name="GalaxyID", labels=None):
        self.frame = frame.reset_index(drop=True)
        self.ids = np.asarray(ids, dtype=object)
        self._where = list(where)
        self.id_name = id_name
        self.labels = labels

    def __len__(self):
        return len(self.frame)

    def where(self, pos):
        return self._where[pos]

    def drop(self, positions):
        """Remove the rows at ``positions`` (positions into the current rows)."""
        if not positions:
            return
        keep = np.ones(len(self), dtype=bool)
        keep[sorted(positions)] = False
        self.frame = self.frame[keep].reset_index(drop=True)
        self.ids = self.ids[keep]
        self._where = [w for w, k in zip(self._where, keep) if k]
        if self.labels is not None:
            self.labels = self.labels[keep]

    def name(self, pos):
        """``"<file> line 7 (GalaxyID 100123)"``."""
        return f"{self._where[pos]} ({self.id_name} {self.ids[pos]})"


# ---------------------------------------------------------------------------
# Row checks
# ---------------------------------------------------------------------------

def duplicate_issues(keys, where, id_name="GalaxyID"):
    """One :class:`Issue` per row whose ID occurs more than once.

    ``where(pos)`` names a row (``"training_solutions_rev1.csv line 7"``).
    Every copy is reported (and skipped): which one is right is unknowable.
    """
    positions = defaultdict(list)
    for pos, key in enumerate(keys):
        positions[key].append(pos)
    issues = []
    for key, rows in positions.items():
        if len(rows) > 1:
            for pos in rows:
                others = ", ".join(where(p) for p in rows if p != pos)
                issues.append(Issue(pos, key, f"{where(pos)}: {id_name} {key} also on {others}"))
    issues.sort(key=lambda i: i.pos)
    return issues


def value_issues(frame, columns, where, keys, nan_allowed=None, atol=0.01, id_name="GalaxyID"):
    """Non-numeric, NaN and out-of-range label values, one :class:`Issue` per row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw table (columns as read).
    columns : sequence of str
        Label columns to check, in output order.
    where, keys : callable, sequence
        Row name and galaxy ID of each row, for the messages.
    nan_allowed : ndarray of bool, shape (N, len(columns)), optional
        Cells where a blank is legitimate (GZ2: a question nobody reached).
    atol : float
        Tolerance on the [0, 1] range (as :func:`galmorph.schema.check_labels`).

    Returns
    -------
    issues : list of Issue
    values : ndarray, float64, shape (N, len(columns))
        The numbers, NaN where blank or not a number.
    """
    import pandas as pd

    values = np.empty((len(frame), len(columns)))
    problems = defaultdict(list)
    for j, name in enumerate(columns):
        raw = frame[name]
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        values[:, j] = num
        blank = np.isnan(num)
        text = raw.notna().to_numpy() & blank
        for r in np.flatnonzero(text):
            problems[r].append(f"{name} = {raw.iloc[r]!r} is not a number")
        nan = blank & ~text
        if nan_allowed is not None:
            nan &= ~nan_allowed[:, j]
        for r in np.flatnonzero(nan):
            problems[r].append(f"{name} is NaN (blank)")
        for r in np.flatnonzero(~blank & ((num < -atol) | (num > 1 + atol))):
            problems[r].append(f"{name} = {num[r]:.6g} is outside [0, 1]")
    issues = [Issue(int(r), keys[r], f"{where(r)} ({id_name} {keys[r]}): " + "; ".join(p))
              for r, p in sorted(problems.items())]
    return issues, values


def _question_text(v, gz2):
    q = schema.QUESTIONS[v.question - 1]
    if gz2:
        name = q.gz2_task
        parent = None if q.parent is None else schema.ANSWERS[schema.column_index(q.parent)].gz2
    else:
        name = f"{q.columns[0]}..{q.columns[-1]}"
        parent = q.parent
    target = "1" if parent is None else f"{parent} = {v.expected:.4g}"
    return f"Q{q.number} ({name}) sums to {v.total:.4g}, expected {target}"


def tree_issues(labels, where, keys, atol=0.01, gz2=False, id_name="GalaxyID"):
    """Rows of weighted fractions that break the GZ2 tree, one :class:`Issue` per row.

    Uses :func:`galmorph.schema.check_labels`; ``gz2=True`` names the GZ2
    release columns instead of the Kaggle ones.
    """
    check = schema.check_labels(labels, atol=atol)
    problems = defaultdict(list)
    for r, c in check.non_finite:
        problems[r].append(f"{schema.KAGGLE_COLUMNS[c]} is NaN or infinite")
    for r, c in check.out_of_range:
        problems[r].append(f"{schema.KAGGLE_COLUMNS[c]} is outside [0, 1]")
    for v in check.violations:
        problems[v.row].append(_question_text(v, gz2))
    return [Issue(int(r), keys[r], f"{where(r)} ({id_name} {keys[r]}): " + "; ".join(p))
            for r, p in sorted(problems.items())]


# ---------------------------------------------------------------------------
# Image headers
# ---------------------------------------------------------------------------

def probe_image(path):
    """``(width, height, mode)`` of an image from its header, without decoding pixels.

    JPEG and PNG are read with PIL's lazy ``Image.open``; FITS with astropy
    (the first HDU holding a 2-D or 3-D image; its mode is reported as
    ``"FITS"``). Raises ``OSError``/``ValueError`` for unreadable files.
    """
    suffix = image_suffix(path)
    if suffix in (".fits", ".fit", ".fits.gz", ".fit.gz"):
        return _probe_fits(path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(os.fspath(path), formats=_PIL_FORMATS.get(suffix)) as im:
            return im.size[0], im.size[1], im.mode
    except UnidentifiedImageError:
        # Wrong extension (a PNG named .jpg) is still readable: let PIL probe.
        with Image.open(path) as im:
            return im.size[0], im.size[1], im.mode


def _probe_fits(path):
    from astropy.io import fits

    with fits.open(path, lazy_load_hdus=True, memmap=False) as hdul:
        for hdu in hdul:
            naxis = int(hdu.header.get("NAXIS", 0))
            if naxis in (2, 3) and not hdu.header.get("XTENSION", "IMAGE").startswith("BINTABLE"):
                return int(hdu.header["NAXIS1"]), int(hdu.header["NAXIS2"]), "FITS"
    raise ValueError("no 2-D or 3-D image HDU")


def check_image_headers(paths, keys, size=None, mode=None):
    """Probe every image header.

    Parameters
    ----------
    paths : sequence of Path
    keys : sequence
        Galaxy IDs (or names) used in the messages, aligned with ``paths``.
    size : (int, int) or None
        Expected ``(width, height)`` in pixels; ``None`` accepts any size.
    mode : str or None
        Expected PIL mode (``"RGB"``); ``None`` accepts any. Not applied to FITS.

    Returns
    -------
    unreadable, unexpected : list of Issue
        Files PIL/astropy cannot open, and files of another size or mode.
    """
    unreadable, unexpected = [], []
    size = None if size is None else tuple(int(s) for s in size)
    for pos, (path, key) in enumerate(zip(paths, keys)):
        try:
            width, height, got_mode = probe_image(path)
        except Exception as exc:  # PIL raises several types; all mean "cannot open"
            unreadable.append(Issue(pos, key, f"{path}: cannot be read as an image "
                                              f"({type(exc).__name__}: {exc})"))
            continue
        wrong = []
        if size is not None and (width, height) != size:
            wrong.append(f"size {width}x{height}, expected {size[0]}x{size[1]}")
        if mode is not None and got_mode != "FITS" and got_mode != mode:
            wrong.append(f"mode {got_mode}, expected {mode}")
        if wrong:
            unexpected.append(Issue(pos, key, f"{path}: " + ", ".join(wrong)))
    return unreadable, unexpected


def index_images(paths):
    """Map integer file stem -> list of files; non-integer stems go under ``None``."""
    out = {}
    for p in paths:
        out.setdefault(parse_int_id(image_stem(p)), []).append(p)
    return out


def match_images(rows, images, policy, key_column, image_dir, known, size=None, mode=None,
                 check=True):
    """Find each row's image and run the image checks, in order.

    The checks: more than one file for a galaxy, no file ("missing image"),
    files without a row ("no labels"), then, if ``check``, unreadable
    headers and unexpected size or mode. ``rows`` loses the rows that fail
    (with ``on_error="skip"``).

    Parameters
    ----------
    rows : Rows
    images : dict
        From :func:`index_images` of the image folder.
    policy : Policy
    key_column : str
        Column of ``rows.frame`` holding the integer file stem
        (``GalaxyID`` for Kaggle, ``asset_id`` for GZ2).
    image_dir : Path
        The folder, for the messages.
    known : set of int
        Every file stem named by the label table as read, including rows
        already skipped (their images are accounted for, not "without labels").
    size, mode : see :func:`check_image_headers`.

    Returns
    -------
    list of Path
        One image per remaining row.
    """
    keys = [int(k) for k in rows.frame[key_column]]
    found = [images.get(k, []) for k in keys]
    several = [Issue(i, rows.ids[i], f"{rows.name(i)}: {len(f)} files "
                     f"({', '.join(p.name for p in f)})") for i, f in enumerate(found) if len(f) > 1]
    missing = [Issue(i, rows.ids[i], f"{rows.name(i)}: no image {k} in {image_dir.name}/")
               for i, (k, f) in enumerate(zip(keys, found)) if not f]
    drop = policy.handle("ambiguous image", f"{len(several)} galaxies have more than one image "
                         f"file in {image_dir}", several, "Keep one file per galaxy.")
    first = ", ".join(str(i.key) for i in missing[:5])
    drop |= policy.handle("missing image", f"{len(missing)} of {len(keys)} labelled galaxies "
                          f"have no image in {image_dir} (first IDs: {first})", missing,
                          "Add the images or remove those rows from the label table.")
    labelled = set(keys) | set(known)
    orphans = [Issue(None, str(p), f"{p}: no row in the label table")
               for stem, files in sorted(images.items(), key=lambda kv: str(kv[0]))
               if stem is not None and stem not in labelled for p in files]
    orphans += [Issue(None, str(p), f"{p}: the file name is not an integer ID")
                for p in images.get(None, [])]
    policy.handle("no labels", f"{len(orphans)} images in {image_dir} have no labels "
                  f"(first: {', '.join(Path(i.key).name for i in orphans[:5])})", orphans,
                  "Move images to classify to another folder, or add their labels.")
    rows.drop(drop)
    paths = [images[int(k)][0] for k in rows.frame[key_column]]
    if not check:
        return paths
    bad, odd = check_image_headers(paths, rows.ids, size, mode)
    drop = policy.handle("unreadable image", f"{len(bad)} of {len(paths)} images in {image_dir} "
                         f"cannot be opened", bad, "Re-download or remove these files.")
    drop |= policy.handle("unexpected image", f"{len(odd)} of {len(paths)} images in "
                          f"{image_dir} are not {_describe(size, mode)}", odd,
                          "Pass image_size=None and/or image_mode=None to accept them.")
    rows.drop(drop)
    return [p for i, p in enumerate(paths) if i not in drop]


def _describe(size, mode):
    size_text = "of any size" if size is None else f"{size[0]}x{size[1]}"
    return f"{size_text} {mode or '(any mode)'}"


# ---------------------------------------------------------------------------
# Fingerprints for Catalog.sources
# ---------------------------------------------------------------------------

def file_record(path):
    """``{"path", "size", "mtime"}`` of one input file (JSON-able)."""
    st = os.stat(path)
    return {"path": str(Path(path).absolute()), "size": int(st.st_size),
            "mtime": float(st.st_mtime)}


def images_fingerprint(paths):
    """A compact JSON-able description of many image files.

    ``count``, total ``bytes``, newest ``mtime`` and a SHA-1 ``digest`` of
    every (absolute path, size, mtime in ns): any added, removed, renamed,
    resized or touched image changes the digest.
    """
    digest = hashlib.sha1()
    total, newest = 0, 0.0
    for path in paths:
        st = os.stat(path)
        total += st.st_size
        newest = max(newest, st.st_mtime)
        digest.update(f"{Path(path).absolute()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"count": len(paths), "bytes": int(total), "mtime_max": float(newest),
            "digest": digest.hexdigest()}
