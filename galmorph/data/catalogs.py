"""Galaxy catalogs: the Kaggle, GZ2-release and plain-image layouts as one :class:`Catalog`.

Three layouts are read (see ``docs/data.rst``):

``kaggle``
    ``images_training_rev1/<GalaxyID>.jpg`` + ``training_solutions_rev1.csv``
    (``GalaxyID`` and the 37 weighted fractions ``Class1.1 ... Class11.6``);
    ``split="test"`` reads ``images_test_rev1/`` without labels.
``gz2``
    The Galaxy Zoo 2 release (Willett et al. 2013; Hart et al. 2016):
    ``images/<asset_id>.jpg``, a ``gz2_hart16``-style table of
    ``tNN_..._aNN_..._{fraction,weighted_fraction,debiased}`` columns keyed by
    ``dr7objid`` and, where that table has no ``asset_id``, the
    ``gz2_filename_mapping`` table (``objid`` -> ``asset_id``).
``images``
    Any folder(s), glob(s) or list of JPEG/PNG/FITS files, for prediction.

Every reader validates what it reads and either raises a
:class:`~galmorph.errors.DataError` naming the file, row and column, or (with
``on_error="skip"``) drops the bad rows, lists them in ``Catalog.skipped``
and warns; see :mod:`galmorph.data.validate`.
"""
from __future__ import annotations

import csv
import glob
import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import schema
from ..errors import DataError
from .validate import (IMAGE_SUFFIXES, CatalogWarning, Issue, Policy, Rows,
                       check_image_headers, duplicate_issues, file_record, image_stem,
                       image_suffix, images_fingerprint, index_images, match_images,
                       parse_int_id, tree_issues, value_issues)

__all__ = ["Catalog", "open_catalog", "read_kaggle", "read_gz2", "read_images", "find_images",
           "detect_layout", "LAYOUTS", "FLAVOURS", "IMAGE_SUFFIXES", "DEFAULT_IMAGE_SIZE",
           "CatalogWarning"]

#: Layout names returned by :func:`detect_layout` and stored in ``Catalog.layout``.
LAYOUTS = ("kaggle", "gz2", "images")
#: GZ2 vote-fraction flavours accepted by :func:`read_gz2`.
FLAVOURS = ("fraction", "weighted_fraction", "debiased")
#: ``(width, height)`` of the Kaggle and GZ2 JPEGs, in pixels.
DEFAULT_IMAGE_SIZE = (424, 424)

KAGGLE_CSV = "training_solutions_rev1.csv"
KAGGLE_DIRS = {"training": "images_training_rev1", "test": "images_test_rev1"}
GZ2_IMAGE_DIR = "images"
GZ2_MARKER = schema.GZ2_COLUMNS[0]  # t01_smooth_or_features_a01_smooth: a GZ2 label table
_TABLE_SUFFIXES = (".csv", ".csv.gz", ".fits", ".fit", ".fits.gz")
_AUTO = "auto"


@dataclass
class Catalog:
    """Galaxies, their image files and (optionally) their labels.

    Attributes
    ----------
    ids : numpy.ndarray
        ``int64`` galaxy IDs (Kaggle ``GalaxyID``, GZ2 ``dr7objid``, integer
        file names), else the file stems as ``str``. Shape ``(N,)``.
    paths : list of pathlib.Path
        One image file per galaxy, aligned with ``ids``.
    labels : numpy.ndarray or None
        ``float32 (N, 37)`` Kaggle weighted vote fractions in
        :data:`galmorph.schema.KAGGLE_COLUMNS` order; ``None`` without labels.
    layout : str
        ``"kaggle"``, ``"gz2"`` or ``"images"``.
    sources : dict
        JSON-able description of the inputs: table files with size and
        mtime, an image fingerprint (count, bytes, newest mtime, digest) and
        the reading options. Equal ``sources`` mean the same inputs.
    skipped : list of (id_or_file, reason)
        Everything left out with ``on_error="skip"``.
    table : pandas.DataFrame
        Per-galaxy metadata aligned with ``ids`` (e.g. GZ2 ``ra``, ``dec``,
        ``gz2_class``), always with a ``path`` column.
    """

    ids: np.ndarray
    paths: list
    labels: np.ndarray | None
    layout: str
    sources: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    table: object = None

    def __post_init__(self):
        import pandas as pd

        self.paths = [Path(p) for p in self.paths]
        self.ids = np.asarray(self.ids)
        n = len(self.paths)
        if len(self.ids) != n:
            raise ValueError(f"Catalog has {len(self.ids)} ids but {n} paths")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.float32)
            if self.labels.shape != (n, schema.N_ANSWERS):
                raise ValueError(f"Catalog labels must have shape ({n}, {schema.N_ANSWERS}), "
                                 f"not {self.labels.shape}")
        if self.table is None:
            self.table = pd.DataFrame({"id": self.ids})
        if len(self.table) != n:
            raise ValueError(f"Catalog table has {len(self.table)} rows for {n} galaxies")
        if "path" not in self.table.columns:
            self.table = self.table.copy()  # also consolidates a frame built column by column
            self.table["path"] = [str(p) for p in self.paths]

    def __len__(self):
        return len(self.paths)

    def __repr__(self):
        labels = "None" if self.labels is None else f"{self.labels.shape}"
        return (f"Catalog(layout={self.layout!r}, n={len(self)}, labels={labels}, "
                f"skipped={len(self.skipped)}, root={self.sources.get('root')!r})")

    def subset(self, index):
        """A new :class:`Catalog` with the rows ``index`` (integers or a boolean mask)."""
        idx = np.asarray(index)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        return Catalog(ids=self.ids[idx], paths=[self.paths[i] for i in idx],
                       labels=None if self.labels is None else self.labels[idx],
                       layout=self.layout, sources=dict(self.sources),
                       skipped=list(self.skipped),
                       table=self.table.iloc[idx].reset_index(drop=True))

    def write_report(self, path):
        """Write the skip report: CSV (``id_or_file,reason``) for ``*.csv``, else text.

        Written even when nothing was skipped, so a report always says so.
        Returns the path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["id_or_file", "reason"])
                writer.writerows([str(k), r] for k, r in self.skipped)
            return path
        root = self.sources.get("root", "?")
        lines = [f"# galmorph skip report: {self.layout} catalog from {root}",
                 f"# kept {len(self)}, skipped {len(self.skipped)}"]
        lines += [f"{k}\t{r}" for k, r in self.skipped] or ["# nothing was skipped"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


# ---------------------------------------------------------------------------
# Finding files and layouts
# ---------------------------------------------------------------------------

def _as_list(inputs):
    if isinstance(inputs, (str, Path)):
        return [inputs]
    return list(inputs)


def _is_glob(text):
    return any(ch in str(text) for ch in "*?[")


def _scan(folder, recursive=False):
    """Sorted image files in ``folder`` (hidden files skipped).

    ``os.scandir`` and plain strings: ~10x faster than ``Path.iterdir`` on
    folders of 10^5 files.
    """
    out, todo = [], [str(folder)]
    while todo:
        with os.scandir(todo.pop()) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    if recursive:
                        todo.append(e.path)
                elif image_suffix(e.name):
                    out.append(e.path)
    return [Path(p) for p in sorted(out)]


def _expand(inputs, recursive=False):
    """Image files named by ``inputs`` and the inputs that named none (with why)."""
    files, seen, empty = [], set(), []
    items = _as_list(inputs)
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = _scan(path, recursive)
            why = f"{path}: folder holds no {'/'.join(IMAGE_SUFFIXES)} files"
        elif _is_glob(item):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True)
                           if image_suffix(p) and Path(p).is_file())
            why = f"{item}: no image files match this pattern"
        elif path.is_file():
            found = [path] if image_suffix(path) else []
            why = (f"{path}: unsupported file type; galmorph reads "
                   f"{', '.join(IMAGE_SUFFIXES)}")
        else:
            found, why = [], f"{path}: no such file or folder"
        if not found:
            empty.append((str(item), why))
        if len(items) == 1:
            files = [p.absolute() for p in found]
            break
        for p in found:
            key = os.path.realpath(p)
            if key not in seen:  # the same file twice (folder + glob) is one galaxy
                seen.add(key)
                files.append(p.absolute())
    return files, empty


def find_images(inputs, recursive=False):
    """Image files named by folders, globs or file paths.

    Parameters
    ----------
    inputs : str, Path or iterable of them
        Folders (their image files, sorted by name), glob patterns
        (``"cutouts/*.fits"``) or files. JPEG (``.jpg``, ``.jpeg``), PNG and
        FITS (``.fits``, ``.fit``, ``.fits.gz``) are recognised.
    recursive : bool
        Also search sub-folders of folders.

    Returns
    -------
    list of pathlib.Path
        Absolute paths, each file once, in input order.

    Raises
    ------
    DataError
        When an input names no image file (missing path, empty folder,
        pattern without matches, unsupported file type).

    Examples
    --------
    >>> find_images(["run1/", "extra/*.png"])  # doctest: +SKIP
    """
    files, empty = _expand(inputs, recursive)
    if empty:
        raise DataError("no images found for " + "; ".join(why for _, why in empty))
    return files


def detect_layout(path):
    """``"kaggle"``, ``"gz2"`` or ``"images"`` for a data folder, file, glob or list.

    A folder with ``training_solutions_rev1.csv``, ``images_training_rev1/``
    or ``images_test_rev1/`` is Kaggle; one with ``images/`` and a table of
    ``t01_smooth_or_features_...`` columns is GZ2; anything else holding
    image files is plain images.
    """
    if not isinstance(path, (str, Path)) or _is_glob(path):
        return "images"
    p = Path(path).expanduser()
    if p.is_file():
        if image_suffix(p):
            return "images"
        raise DataError(f"{p} is neither a data folder nor an image ({', '.join(IMAGE_SUFFIXES)})")
    if not p.is_dir():
        raise DataError(f"{p}: no such file or folder")
    names = {c.name for c in p.iterdir()}
    if KAGGLE_CSV in names or any(d in names or d + ".zip" in names for d in KAGGLE_DIRS.values()):
        return "kaggle"
    if (p / GZ2_IMAGE_DIR).is_dir():
        if _find_gz2_tables(p)[0]:
            return "gz2"
        raise DataError(f"{p} has an images/ folder but no GZ2 label table (a CSV or FITS "
                        f"table with t01_smooth_or_features_... columns); add gz2_hart16.csv "
                        f"for training, or pass {p / GZ2_IMAGE_DIR} to read the images alone")
    if any(image_suffix(n) for n in names):
        return "images"
    raise DataError(f"{p} holds no known layout: expected {KAGGLE_CSV} + images_training_rev1/ "
                    f"(Kaggle), images/ + a gz2_hart16 table (GZ2), or image files")




# ---------------------------------------------------------------------------
# Shared steps
# ---------------------------------------------------------------------------

def _finish(policy, catalog, n_inputs, report):
    """Attach the skips, warn once, write the report; refuse an empty catalog."""
    catalog.skipped = policy.skipped
    if policy.skipped:
        kinds = Counter(reason.split(":", 1)[0] for _, reason in policy.skipped)
        where = (f"report written to {report}" if report is not None
                 else "see Catalog.skipped or Catalog.write_report()")
        warnings.warn(f"{catalog.layout} catalog from {catalog.sources.get('root')}: kept "
                      f"{len(catalog)}, skipped {len(policy.skipped)} "
                      f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); {where}",
                      CatalogWarning, stacklevel=_user_stacklevel())
    if report is not None:
        catalog.write_report(report)
    if len(catalog) == 0:
        first = "; ".join(reason for _, reason in policy.skipped[:3])
        raise DataError(f"no galaxies left in the {catalog.layout} catalog from "
                        f"{catalog.sources.get('root')}: all {n_inputs} inputs were skipped "
                        f"(first reasons: {first})")
    return catalog


def _user_stacklevel():
    """``stacklevel`` that points a warning at the first caller outside this package."""
    frame, level = sys._getframe(1), 1
    here = os.path.dirname(os.path.abspath(__file__))
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return level


def _options(**kw):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}


def _split(split):
    split = {"train": "training"}.get(split, split)
    if split not in KAGGLE_DIRS:
        raise ValueError(f"split must be 'training' or 'test', not {split!r}")
    return split


def _read_table(path, id_columns=(), nrows=None):
    """A CSV (optionally zipped/gzipped) or FITS table as a DataFrame; IDs as text.

    ID columns are read as strings so that 18-digit ``dr7objid`` values never
    pass through float64, and so that bad IDs can be reported as written.
    """
    import pandas as pd

    name = path.name.lower()
    try:
        if name.endswith((".fits", ".fit", ".fits.gz")):
            from astropy.table import Table

            frame = Table.read(path).to_pandas()
            for c in id_columns:
                if c in frame.columns:
                    frame[c] = frame[c].astype(str)
            return frame if nrows is None else frame.iloc[:nrows]
        header = pd.read_csv(path, nrows=0).columns
        dtype = {c: str for c in id_columns if c in header}
        return pd.read_csv(path, dtype=dtype, nrows=nrows)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as a table ({type(exc).__name__}: {exc})") from exc


def _columns(path):
    return list(_read_table(path, nrows=0).columns)


# ---------------------------------------------------------------------------
# Kaggle layout
# ---------------------------------------------------------------------------

def _kaggle_csv(root):
    for name in (KAGGLE_CSV, KAGGLE_CSV + ".zip", "training_solutions_rev1.zip"):
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root}: no {KAGGLE_CSV}; the Kaggle training layout needs the label table "
                    f"next to {KAGGLE_DIRS['training']}/ (to read images without labels use "
                    f"split='test' or layout='images')")


def _kaggle_dir(root, split):
    folder = root / KAGGLE_DIRS[split]
    if folder.is_dir():
        return folder
    if folder.with_suffix(".zip").is_file():
        raise DataError(f"{folder} is missing but {folder.name}.zip is there: unzip it in {root}")
    raise DataError(f"{root}: no {folder.name}/ folder of <GalaxyID>.jpg images")


def _check_kaggle_columns(path, columns):
    expected = (schema.ID_COLUMN,) + schema.KAGGLE_COLUMNS
    missing = [c for c in expected if c not in columns]
    unknown = [c for c in columns if c not in expected]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
        raise DataError(f"{path}: {'; '.join(parts)}. The header must be {schema.ID_COLUMN} "
                        f"followed by the 37 columns Class1.1 ... Class11.6 "
                        f"(galmorph.schema.KAGGLE_COLUMNS), as in Kaggle's {KAGGLE_CSV}")


def _int_ids(rows, column, policy, what):
    """Parse ``rows.frame[column]`` to integers; bad ones are one kind of problem."""
    parsed = [parse_int_id(v) for v in rows.frame[column]]
    bad = [Issue(i, str(rows.frame[column].iloc[i]),
                 f"{rows.where(i)}: {column} {rows.frame[column].iloc[i]!r} is not an integer")
           for i, v in enumerate(parsed) if v is None]
    rows.drop(policy.handle(f"bad {column}", f"{len(bad)} rows of {what} have no valid "
                            f"integer {column}", bad, f"Fix the {column} values."))
    rows.ids = np.array([parse_int_id(v) for v in rows.frame[column]], dtype=object)
    rows.frame[column] = rows.ids.astype(np.int64)


def _unreached(labels, atol=0.01):
    """``(N, 37)`` mask of answers whose question nobody reached (parent <= ``atol``)."""
    mask = np.zeros(labels.shape, dtype=bool)
    for q in schema.QUESTIONS:
        parent = schema.PARENT_INDEX[q.number]
        if parent is not None:
            mask[:, schema.QUESTION_SLICES[q.number]] = (labels[:, parent] <= atol)[:, None]
    return mask


def _numeric(frame, columns):
    """``(N, len(columns))`` float64; NaN where blank or not a number."""
    import pandas as pd

    return np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
                            for c in columns])


def _label_checks(rows, policy, what, columns, flavour=None):
    """Duplicate IDs, bad values, then tree breaks; sets ``rows.labels`` (N, 37).

    ``flavour=None`` reads Kaggle weighted fractions as they are; a GZ2
    flavour converts the release's conditional fractions with
    :func:`galmorph.schema.gz2_to_kaggle`, where blanks are legitimate in
    questions nobody reached.
    """
    dup = duplicate_issues(list(rows.ids), rows.where, rows.id_name)
    rows.drop(policy.handle("duplicate ID", f"{len(dup)} rows of {what} share their "
                            f"{rows.id_name} with another row", dup,
                            "Remove the duplicate rows."))
    values = _numeric(rows.frame, columns)  # (N, 37)
    if flavour is None:
        labels, allowed = values, None
    else:
        labels = _gz2_labels(values, flavour)
        allowed = _unreached(labels)
    bad, _ = value_issues(rows.frame, columns, rows.where, rows.ids, allowed,
                          id_name=rows.id_name)
    drop = policy.handle("bad value", f"{len(bad)} rows of {what} have NaN, non-numeric or "
                         f"out-of-range vote fractions", bad,
                         "Vote fractions must be numbers in [0, 1]; fix or remove the rows.")
    rows.labels = labels
    rows.drop(drop)
    broken = tree_issues(rows.labels, rows.where, rows.ids, gz2=flavour is not None,
                         id_name=rows.id_name)
    rows.drop(policy.handle(
        "breaks the GZ2 tree", f"{len(broken)} of {len(rows)} rows of {what} break the GZ2 "
        f"tree (the answers to a question must sum to the answer leading to it, within 0.01)",
        broken, "Fix these rows (a question reached by some volunteers needs answers) "
        "or remove them."))


def _gz2_labels(values, flavour):
    """GZ2 conditional fractions in GZ2_COLUMNS order -> Kaggle weighted (N, 37)."""
    names = [f"{stem}_{flavour}" for stem in schema.GZ2_COLUMNS]
    return schema.gz2_to_kaggle(dict(zip(names, values.T)), flavour)


def _sources(layout, root, tables, paths, **options):
    return {"layout": layout, "root": str(root),
            "files": [file_record(t) for t in tables],
            "images": images_fingerprint(paths), "options": _options(**options)}


def read_kaggle(root, *, split="training", on_error="raise", check_images=True,
                image_size=DEFAULT_IMAGE_SIZE, image_mode="RGB", report=None):
    """Read a folder in the Kaggle "Galaxy Challenge" layout.

    Parameters
    ----------
    root : str or Path
        Folder holding ``training_solutions_rev1.csv`` and
        ``images_training_rev1/`` (and/or ``images_test_rev1/``).
    split : {"training", "test"}
        ``"test"`` reads ``images_test_rev1/`` without labels.
    on_error : {"raise", "skip"}
        Stop at the first kind of problem, or drop the bad rows and record
        them in ``Catalog.skipped`` (with a :class:`CatalogWarning`).
    check_images : bool
        Open every image header (no decode) to catch unreadable files and
        unexpected size or mode.
    image_size : (int, int) or None
        Expected ``(width, height)`` in pixels; ``None`` accepts any.
    image_mode : str or None
        Expected PIL mode; ``None`` accepts any.
    report : str or Path, optional
        Where to write the skip report (``.csv`` or text).

    Returns
    -------
    Catalog
        ``ids`` are ``int64`` GalaxyIDs in CSV order, ``labels`` ``float32
        (N, 37)`` (``None`` for the test split).

    Examples
    --------
    >>> cat = read_kaggle("gz-kaggle-5k")  # doctest: +SKIP
    >>> cat.labels.shape  # doctest: +SKIP
    (5000, 37)
    """
    root = Path(root).expanduser().absolute()
    split = _split(split)
    policy = Policy(on_error)
    options = dict(split=split, on_error=on_error, check_images=check_images,
                   image_size=image_size, image_mode=image_mode)
    folder = _kaggle_dir(root, split)
    if split == "test":
        catalog = _image_catalog(find_images(folder), policy, layout="kaggle", root=root,
                                 int_ids=True, check=check_images, size=image_size,
                                 mode=image_mode, options=options)
        return _finish(policy, catalog, len(catalog) + len(policy.skipped), report)
    csv_path = _kaggle_csv(root)
    _check_kaggle_columns(csv_path, _columns(csv_path))
    frame = _read_table(csv_path, id_columns=(schema.ID_COLUMN,))
    if frame.empty:
        raise DataError(f"{csv_path}: the table has a header but no rows")
    n_rows = len(frame)
    where = [f"{csv_path.name} line {i + 2}" for i in range(n_rows)]  # line 1 is the header
    rows = Rows(frame, frame[schema.ID_COLUMN], where, schema.ID_COLUMN)
    _int_ids(rows, schema.ID_COLUMN, policy, csv_path.name)
    _label_checks(rows, policy, csv_path.name, schema.KAGGLE_COLUMNS)
    known = {parse_int_id(v) for v in frame[schema.ID_COLUMN]}
    paths = match_images(rows, index_images(find_images(folder)), policy, schema.ID_COLUMN,
                         folder, known, image_size, image_mode, check_images)
    table = rows.frame[[schema.ID_COLUMN, *schema.KAGGLE_COLUMNS]].copy()
    catalog = Catalog(ids=rows.ids.astype(np.int64), paths=paths, labels=rows.labels,
                      layout="kaggle", table=table,
                      sources=_sources("kaggle", root, [csv_path], paths, **options))
    return _finish(policy, catalog, n_rows, report)


# ---------------------------------------------------------------------------
# Plain images
# ---------------------------------------------------------------------------

def _image_catalog(files, policy, *, layout, root, int_ids, check, size, mode, options,
                   empty=()):
    """Catalog of unlabelled image files; IDs from the file stems."""
    import pandas as pd

    n_inputs = len(files) + len(empty)
    gone = [Issue(None, item, why) for item, why in empty]
    policy.handle("missing image", f"{len(gone)} inputs name no image file", gone,
                  "Check the paths and patterns.")
    stems = [image_stem(p) for p in files]
    rows = Rows(pd.DataFrame({"path": [str(p) for p in files]}), stems,
                [str(p) for p in files], "ID")
    parsed = [parse_int_id(s) for s in stems]
    if int_ids:
        bad = [Issue(i, str(files[i]), f"{files[i]}: the file name is not an integer GalaxyID")
               for i, v in enumerate(parsed) if v is None]
        drop = policy.handle("bad GalaxyID", f"{len(bad)} files in {root} are not named "
                             f"<GalaxyID>.jpg", bad, "Rename or remove them.")
        rows.drop(drop)
        parsed = [v for i, v in enumerate(parsed) if i not in drop]
    if all(v is not None for v in parsed):
        rows.ids = np.array(parsed, dtype=object)
    dup = duplicate_issues(list(rows.ids), rows.where, "ID")
    rows.drop(policy.handle(
        "duplicate ID", f"{len(dup)} image files share their name (the galaxy ID) with "
        f"another file", dup, "galmorph names each galaxy by its file name without the "
        "suffix: rename the files, or read the folders one at a time."))
    paths = [Path(p) for p in rows.frame["path"]]
    if check:
        bad, odd = check_image_headers(paths, rows.ids, size, mode)
        drop = policy.handle("unreadable image", f"{len(bad)} of {len(paths)} images cannot "
                             f"be opened", bad, "Re-download or remove these files.")
        drop |= policy.handle("unexpected image", f"{len(odd)} of {len(paths)} images have "
                              f"an unexpected size or mode", odd,
                              "Pass image_size=None and/or image_mode=None to accept them.")
        rows.drop(drop)
        paths = [Path(p) for p in rows.frame["path"]]
    numeric = len(rows) > 0 and all(isinstance(v, (int, np.integer)) for v in rows.ids)
    ids = rows.ids.astype(np.int64) if numeric else rows.ids.astype(str)
    table = pd.DataFrame({"id": ids, "path": [str(p) for p in paths]})
    sources = _sources(layout, root, [], paths, **options)
    sources["n_inputs"] = n_inputs
    return Catalog(ids=ids, paths=paths, labels=None, layout=layout, table=table,
                   sources=sources)


def read_images(inputs, *, on_error="raise", check_images=True, image_size=None,
                image_mode=None, recursive=False, report=None):
    """Catalog of image files for prediction (no labels).

    Parameters
    ----------
    inputs : str, Path or iterable of them
        Folders, glob patterns or files (JPEG, PNG, FITS; see
        :func:`find_images`).
    on_error : {"raise", "skip"}
        Stop at the first kind of problem or skip the bad files.
    check_images : bool
        Open every header (no decode) to catch unreadable files.
    image_size : (int, int) or None
        Expected ``(width, height)``; ``None`` (default) accepts any size.
    image_mode : str or None
        Expected PIL mode (``"RGB"``); ``None`` (default) accepts any.
    recursive : bool
        Search sub-folders too.
    report : str or Path, optional
        Where to write the skip report.

    Returns
    -------
    Catalog
        ``ids`` are the file names without suffix: ``int64`` when every one
        is an integer, else ``str``. Two files with the same name in
        different folders are an error (``on_error="skip"`` drops both).

    Examples
    --------
    >>> cat = read_images(["cutouts/", "more/*.fits"])  # doctest: +SKIP
    """
    files, empty = _expand(inputs, recursive)
    if not files:
        raise DataError("no images found for " + "; ".join(why for _, why in empty))
    policy = Policy(on_error)
    items = [str(i) for i in _as_list(inputs)]
    root = items[0] if len(items) == 1 else items
    options = dict(on_error=on_error, check_images=check_images, image_size=image_size,
                   image_mode=image_mode, recursive=recursive)
    catalog = _image_catalog(files, policy, layout="images", root=root, int_ids=False,
                             check=check_images, size=image_size, mode=image_mode,
                             options=options, empty=empty)
    return _finish(policy, catalog, catalog.sources["n_inputs"], report)


# ---------------------------------------------------------------------------
# GZ2 release layout
# ---------------------------------------------------------------------------

_GZ2_ID_COLUMNS = ("dr7objid", "objid", "asset_id")


def _find_gz2_tables(root):
    """Label tables (``t01_...`` columns) and filename mappings in ``root``."""
    labels, mappings = [], []
    for path in sorted(Path(root).iterdir()):
        if not (path.is_file() and path.name.lower().endswith(_TABLE_SUFFIXES)):
            continue
        try:
            cols = _columns(path)
        except DataError:
            continue  # not a table: other files may sit next to the data
        if any(str(c).startswith(GZ2_MARKER) for c in cols):
            labels.append(path)
        elif "asset_id" in cols and ("objid" in cols or "dr7objid" in cols):
            mappings.append(path)
    return labels, mappings


def _check_gz2_columns(path, columns, flavour):
    names = [f"{stem}_{flavour}" for stem in schema.GZ2_COLUMNS]
    missing = [n for n in names if n not in columns]
    if missing:
        have = [f for f in FLAVOURS if all(f"{s}_{f}" in columns for s in schema.GZ2_COLUMNS)]
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        advice = (f"it has complete {' and '.join(map(repr, have))} columns: pass "
                  f"flavour={have[0]!r}" if have else "no flavour is complete in it")
        raise DataError(f"{path}: flavour {flavour!r} needs the 37 columns "
                        f"<answer>_{flavour}; {len(missing)} are missing "
                        f"({', '.join(missing[:4])}{more}); {advice}")
    if "dr7objid" not in columns and "objid" not in columns:
        raise DataError(f"{path}: no dr7objid (or objid) column to identify the galaxies")


def _join_mapping(frame, id_col, path, map_files):
    """Add ``asset_id`` to a labels table through the filename mapping(s).

    Matches on (objid, sample) where both tables have ``sample`` (the public
    mapping lists some objects under several samples), else on objid alone;
    the first mapping row wins.
    """
    import pandas as pd

    if not map_files:
        raise DataError(f"{path} has no asset_id column and no filename mapping table "
                        f"(gz2_filename_mapping*.csv: objid, sample, asset_id) sits next to it: "
                        f"put the GZ2 image release's gz2_filename_mapping.csv in "
                        f"{path.parent} or pass mapping=")
    maps = pd.concat([_read_table(m, _GZ2_ID_COLUMNS) for m in map_files], ignore_index=True)
    key = "objid" if "objid" in maps.columns else "dr7objid"
    keys = [parse_int_id(k) for k in maps[key]]
    samples = maps["sample"].astype(str).str.strip() if "sample" in maps.columns else None
    by_id, by_pair = {}, {}
    for i, (k, asset) in enumerate(zip(keys, maps["asset_id"])):
        by_id.setdefault(k, asset)
        if samples is not None:
            by_pair.setdefault((k, samples.iloc[i]), asset)
    ids = [parse_int_id(v) for v in frame[id_col]]
    mine = frame["sample"].astype(str).str.strip() if "sample" in frame.columns else None
    frame = frame.copy()
    frame["asset_id"] = [by_pair.get((k, mine.iloc[i]), by_id.get(k)) if mine is not None
                         else by_id.get(k) for i, k in enumerate(ids)]
    return frame


def _read_gz2_table(path, flavour, map_files):
    frame = _read_table(path, _GZ2_ID_COLUMNS)
    _check_gz2_columns(path, frame.columns, flavour)
    id_col = "dr7objid" if "dr7objid" in frame.columns else "objid"
    if "asset_id" not in frame.columns:
        frame = _join_mapping(frame, id_col, path, map_files)
    csv_like = ".csv" in path.name.lower()
    frame["_where"] = [f"{path.name} line {i + 2}" if csv_like else f"{path.name} row {i + 1}"
                       for i in range(len(frame))]
    frame["_id"] = frame[id_col]
    return frame


def read_gz2(root, *, flavour="weighted_fraction", labels=None, mapping=None, on_error="raise",
             check_images=True, image_size=DEFAULT_IMAGE_SIZE, image_mode="RGB", report=None):
    """Read a folder in the Galaxy Zoo 2 release layout.

    Parameters
    ----------
    root : str or Path
        Folder with ``images/<asset_id>.jpg`` and the label table(s).
    flavour : {"fraction", "weighted_fraction", "debiased"}
        Which GZ2 vote fractions become the labels (Willett et al. 2013;
        debiased: Hart et al. 2016). They are per-question (conditional)
        fractions, multiplied down the tree into Kaggle weighted fractions
        by :func:`galmorph.schema.gz2_to_kaggle`.
    labels : path or list of paths, optional
        Label tables (CSV, CSV.gz or FITS, ``gz2_hart16`` columns). Default:
        every table in ``root`` with ``t01_smooth_or_features_...`` columns.
    mapping : path or list of paths, optional
        Filename mapping (``objid``, ``sample``, ``asset_id``) for tables
        without ``asset_id``. Default: the mapping tables found in ``root``.
    on_error, check_images, image_size, image_mode, report
        As in :func:`read_kaggle`.

    Returns
    -------
    Catalog
        ``ids`` are ``int64`` ``dr7objid``; ``table`` keeps every column of
        the label table(s) (``ra``, ``dec``, ``gz2_class``, ...) plus
        ``asset_id`` and ``path``.

    Examples
    --------
    >>> cat = read_gz2("gz2-1k", flavour="debiased", on_error="skip")  # doctest: +SKIP
    >>> cat.table[["dr7objid", "gz2_class"]].head()  # doctest: +SKIP
    """
    import pandas as pd

    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {', '.join(FLAVOURS)}, not {flavour!r}")
    root = Path(root).expanduser().absolute()
    folder = root / GZ2_IMAGE_DIR
    if not folder.is_dir():
        raise DataError(f"{root}: no {GZ2_IMAGE_DIR}/ folder of <asset_id>.jpg images")
    found_labels, found_maps = _find_gz2_tables(root)
    label_files = found_labels if labels is None else [Path(p) for p in _as_list(labels)]
    map_files = found_maps if mapping is None else [Path(p) for p in _as_list(mapping)]
    if not label_files:
        raise DataError(f"{root}: no GZ2 label table (a CSV or FITS table with "
                        f"{GZ2_MARKER}_... columns, such as gz2_hart16.csv)")
    policy = Policy(on_error)
    frame = pd.concat([_read_gz2_table(p, flavour, map_files) for p in label_files],
                      ignore_index=True)
    n_rows = len(frame)
    what = ", ".join(p.name for p in label_files)
    rows = Rows(frame, frame["_id"], frame["_where"], "dr7objid")
    _int_ids(rows, "_id", policy, what)
    assets = [parse_int_id(a) if a is not None and not pd.isna(a) else None
              for a in rows.frame["asset_id"]]
    unnamed = [Issue(i, rows.ids[i], f"{rows.name(i)}: no asset_id (image name); it is "
                     f"missing from the filename mapping" if a is None else "")
               for i, a in enumerate(assets) if a is None]
    rows.drop(policy.handle("no image name", f"{len(unnamed)} galaxies of {what} have no "
                            f"valid asset_id", unnamed,
                            "Use the gz2_filename_mapping table of the same release."))
    rows.frame["asset_id"] = [parse_int_id(a) for a in rows.frame["asset_id"]]
    columns = [f"{stem}_{flavour}" for stem in schema.GZ2_COLUMNS]
    _label_checks(rows, policy, what, columns, flavour=flavour)
    known = {parse_int_id(a) for a in frame["asset_id"] if isinstance(a, (str, int))}
    paths = match_images(rows, index_images(find_images(folder)), policy, "asset_id", folder,
                         known, image_size, image_mode, check_images)
    table = rows.frame.drop(columns=["_where", "_id"])
    table["dr7objid"] = rows.ids.astype(np.int64)
    table["asset_id"] = table["asset_id"].astype(np.int64)
    catalog = Catalog(ids=rows.ids.astype(np.int64), paths=paths, labels=rows.labels,
                      layout="gz2", table=table,
                      sources=_sources("gz2", root, label_files + map_files, paths,
                                       flavour=flavour, on_error=on_error,
                                       check_images=check_images, image_size=image_size,
                                       image_mode=image_mode))
    return _finish(policy, catalog, n_rows, report)


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

def open_catalog(source, *, layout="auto", split="training", flavour="weighted_fraction",
                 on_error="raise", check_images=True, image_size=_AUTO, image_mode=_AUTO,
                 labels=None, mapping=None, recursive=False, report=None):
    """Open galaxy images (and labels) in any supported layout.

    Parameters
    ----------
    source : str, Path or list
        A data folder (Kaggle or GZ2 layout), or folders / globs / files of
        images for prediction.
    layout : {"auto", "kaggle", "gz2", "images"}
        ``"auto"`` uses :func:`detect_layout`.
    split : {"training", "test"}
        Kaggle only: the labelled training set or the unlabelled test images.
    flavour : {"fraction", "weighted_fraction", "debiased"}
        GZ2 only: which release vote fractions become labels.
    on_error : {"raise", "skip"}
        ``"raise"`` stops at the first kind of problem with a
        :class:`~galmorph.errors.DataError` listing every row of that kind;
        ``"skip"`` drops bad rows, lists them in ``Catalog.skipped``, writes
        ``report`` if given and warns (:class:`CatalogWarning`).
    check_images : bool
        Open every image header (no decode): unreadable files, wrong size or mode.
    image_size : (int, int), None or "auto"
        Expected ``(width, height)`` in pixels; ``"auto"``: 424x424 for the
        Kaggle and GZ2 layouts, any size for plain images.
    image_mode : str, None or "auto"
        Expected PIL mode; ``"auto"``: ``"RGB"`` for Kaggle/GZ2, any otherwise.
    labels, mapping
        GZ2 only, see :func:`read_gz2`.
    recursive : bool
        Plain images only: search sub-folders.
    report : str or Path, optional
        Skip report to write (``.csv`` or text).

    Returns
    -------
    Catalog

    Examples
    --------
    >>> from galmorph.data.catalogs import open_catalog
    >>> cat = open_catalog("../shared/data/gz-kaggle-5k")  # doctest: +SKIP
    >>> len(cat), cat.labels.shape  # doctest: +SKIP
    (5000, (5000, 37))
    """
    if layout == _AUTO:
        layout = detect_layout(source)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {', '.join(LAYOUTS)}, not {layout!r}")
    labelled = layout != "images"
    size = (DEFAULT_IMAGE_SIZE if labelled else None) if image_size == _AUTO else image_size
    mode = ("RGB" if labelled else None) if image_mode == _AUTO else image_mode
    common = dict(on_error=on_error, check_images=check_images, image_size=size,
                  image_mode=mode, report=report)
    if labelled and not isinstance(source, (str, Path)):
        raise DataError(f"the {layout} layout reads one data folder, not {source!r}")
    if layout == "kaggle":
        return read_kaggle(source, split=split, **common)
    if layout == "gz2":
        return read_gz2(source, flavour=flavour, labels=labels, mapping=mapping, **common)
    return read_images(source, recursive=recursive, **common)
