"""A table of your own labels: image paths, label columns, checked row by row.

The table is any file astropy reads (CSV, ECSV, FITS, Parquet). It has a
``path`` column of image files, relative to the table's own folder (or to
``image_dir``), and one column per label. A row whose label is missing (an
empty or masked cell, NaN, ``NA``) adds nothing for that label; a row missing
every label is left out. Every other problem -- a missing file, a text in a
column of numbers, a column with one value -- is a
:class:`~galmorph.errors.DataError` naming the table, the column and the rows.

``task="auto"`` reads each column: booleans or any two values are binary, a
few texts (at most :data:`MAX_AUTO_CLASSES`) multiclass, other numbers
regression. Integer class codes need ``task="multiclass"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galmorph.errors import DataError, MissingColumnError, ParameterError

__all__ = ["LabelTable", "read_label_table", "TASK_CHOICES", "MAX_AUTO_CLASSES"]

#: What ``task=`` accepts.
TASK_CHOICES = ("auto", "binary", "multiclass", "regression")
#: The most distinct texts ``task="auto"`` reads as classes.
MAX_AUTO_CLASSES = 20
_MISSING_TEXT = {"", "nan", "na", "n/a", "none", "null", "--", "-"}
_FORMATS = {".csv": "ascii.csv", ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits",
            ".fits.gz": "fits", ".parquet": "parquet", ".pq": "parquet"}
_SHOW = 5


@dataclass
class LabelTable:
    """The labelled galaxies of a table, encoded for training.

    Attributes
    ----------
    path : pathlib.Path
        The table file.
    rows : numpy.ndarray
        ``int64 (N,)``: the table row (0-based) of each kept galaxy.
    paths : list of pathlib.Path
        Its image file, absolute.
    targets : numpy.ndarray
        ``float32 (N, L)``: per label, the value (regression), the class index
        (binary, multiclass), NaN where missing.
    heads : tuple of dict
        One head spec per label (:mod:`galmorph.models.finetuned`).
    n_rows : int
        Rows in the table.
    skipped : list of int
        Table rows left out because they miss every label.
    """

    path: Path
    rows: np.ndarray
    paths: list
    targets: np.ndarray
    heads: tuple
    n_rows: int
    skipped: list

    def __len__(self):
        return len(self.rows)


def _rows_text(rows, values=None):
    shown = [f"row {r + 1}" + ("" if values is None else f" ({values[i]!r})")
             for i, r in enumerate(rows[:_SHOW])]
    more = f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else ""
    return ", ".join(shown) + more


def _read(path):
    from astropy.table import Table

    path = Path(path)
    if not path.is_file():
        raise DataError(f"label table {path} does not exist" if not path.exists() else
                        f"label table {path} is not a file")
    suffix = "".join(path.suffixes[-2:]).lower() if path.name.lower().endswith(".gz") \
        else path.suffix.lower()
    fmt = _FORMATS.get(suffix)
    try:
        return Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:  # astropy raises many kinds; all mean "cannot read it"
        raise DataError(f"cannot read the label table {path} ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:200]}); give a CSV, ECSV, FITS or "
                        f"Parquet table") from None


def _cells(column):
    """``(values as a numpy array, missing mask)`` of an astropy column."""
    mask = np.asarray(getattr(column, "mask", np.zeros(len(column), bool)), dtype=bool)
    if mask.shape != (len(column),):
        mask = np.zeros(len(column), bool)
    values = np.asarray(column.filled() if hasattr(column, "filled") else column)
    if values.ndim != 1:
        raise DataError(f"column {column.name!r} holds arrays of shape {values.shape[1:]} per "
                        f"row; a label column holds one value per row")
    if values.dtype.kind in "US" or values.dtype == object:
        text = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values],
                        dtype=object)
        mask |= np.array([t.strip().lower() in _MISSING_TEXT for t in text])
        return text, mask
    if values.dtype.kind == "f":
        mask |= ~np.isfinite(values)
    return values, mask


def _as_numbers(text, known, where):
    """Texts that are numbers -> float array; DataError naming the rows that are not."""
    out = np.full(len(text), np.nan)
    bad = []
    for i in np.flatnonzero(known):
        try:
            out[i] = float(text[i])
        except ValueError:
            bad.append(i)
    if bad:
        raise DataError(f"{where} holds numbers, but {_rows_text(bad, text[bad])} "
                        f"{'is' if len(bad) == 1 else 'are'} not a number; fix or empty "
                        f"{'that cell' if len(bad) == 1 else 'those cells'} (an empty cell is "
                        f"a missing label), or pass --task binary/multiclass if the column "
                        f"holds classes")
    return out


def _auto_task(values, known, where):
    distinct = np.unique(values[known])
    if values.dtype == bool or len(distinct) == 2:
        return "binary"
    if values.dtype == object:
        n_numbers = sum(1 for v in values[known] if _is_number(v))
        if n_numbers > known.sum() / 2:
            return "regression"     # mostly numbers: _as_numbers names the texts among them
        if len(distinct) <= MAX_AUTO_CLASSES:
            return "multiclass"
        raise DataError(f"{where} holds {len(distinct)} different texts, too many to read as "
                        f"classes (at most {MAX_AUTO_CLASSES} with --task auto); pass --task "
                        f"multiclass to train on them all")
    return "regression"


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _encode(name, column, task, where, spec=None):
    """``(targets float (n,), head spec)`` of one label column (``spec``: a trained head's,
    whose classes the values must be among)."""
    values, missing = _cells(column)
    known = ~missing
    if not known.any():
        raise DataError(f"{where} has no labels (every cell is empty or NaN)")
    if spec is not None and spec["task"] != "regression":
        index = {c: i for i, c in enumerate(spec["classes"])}
        keys = [str(_key(v)) for v in values]
        bad = [i for i in np.flatnonzero(known) if keys[i] not in index]
        if bad:
            raise DataError(f"{where}: {_rows_text(bad, values[bad])} hold(s) a class the "
                            f"model does not know (it knows {', '.join(spec['classes'])})")
        targets = np.array([index[k] if ok else np.nan for k, ok in zip(keys, known)],
                           dtype=np.float32)
        return targets, dict(spec)
    if spec is not None:
        task = "regression"
    if task == "auto":
        task = _auto_task(values, known, where)
    if task == "regression":
        numbers = (_as_numbers(values, known, where) if values.dtype == object
                   else values.astype(np.float64))
        if values.dtype == bool:
            raise DataError(f"{where} holds true/false values; use --task binary")
        numbers = np.where(known, numbers, np.nan)          # masked cells hold fill values
        good = numbers[known]
        scale = float(good.std()) if len(good) > 1 and good.std() > 0 else 1.0
        return numbers.astype(np.float32), {"label": name, "task": task,
                                            "mean": float(good.mean()), "scale": scale}
    classes = sorted({_key(v) for v in values[known]}, key=_sort_key)
    if task == "binary" and len(classes) != 2:
        what = "one value" if len(classes) == 1 else f"{len(classes)} values"
        raise DataError(f"{where} holds {what} ({', '.join(map(str, classes[:_SHOW]))}), not "
                        f"the two of a binary label" + (
                            "; every galaxy has the same label, so there is nothing to learn"
                            if len(classes) == 1 else "; use --task multiclass or regression"))
    if len(classes) < 2:
        raise DataError(f"{where} holds one class only ({classes[0]}); nothing to learn")
    index = {c: i for i, c in enumerate(classes)}
    targets = np.full(len(values), np.nan, dtype=np.float32)
    for i in np.flatnonzero(known):
        targets[i] = index[_key(values[i])]
    return targets, {"label": name, "task": task, "classes": [str(c) for c in classes]}


def _key(value):
    # One key per class, whatever the column's type: 1 and 1.0 and True stay apart by type.
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value).strip()


def _sort_key(value):
    return (0, value, "") if isinstance(value, (bool, int, float)) else (1, 0, str(value))


def _image_paths(column, rows, folder, where):
    """The image file of each table row in ``rows``; DataError naming the rows without one."""
    values, missing = _cells(column)
    paths, bad = {}, []
    for row in rows:
        path = Path(str(values[row])).expanduser()
        paths[row] = path if path.is_absolute() else folder / path
        if missing[row] or not paths[row].is_file():
            bad.append(row)
    if bad:
        shown = "; ".join(f"row {r + 1}: " + ("empty path" if missing[r] else
                                             f"{values[r]} (looked for {paths[r]})")
                          for r in bad[:_SHOW])
        more = f"; and {len(bad) - _SHOW} more" if len(bad) > _SHOW else ""
        raise DataError(f"{where}: {len(bad)} image file(s) not found: {shown}{more}. Paths "
                        f"are relative to {folder} (the table's folder unless --image-dir "
                        f"says otherwise)")
    return [paths[r] for r in rows]


def read_label_table(path, labels, *, task="auto", image_dir=None, heads=None):
    """Read and check a table of image paths and labels.

    Parameters
    ----------
    path : path-like
        CSV, ECSV, FITS or Parquet table with a ``path`` column.
    labels : str or sequence of str
        The label columns.
    task : {"auto", "binary", "multiclass", "regression"} or sequence of them
        One for every label, or one per label.
    image_dir : path-like, optional
        Folder that relative paths are resolved against (default: the table's folder).
    heads : sequence of dict, optional
        A trained model's head specs, one per label: the values are read as their
        task and classes say (for scoring the model), and ``task`` is ignored.

    Returns
    -------
    LabelTable

    Raises
    ------
    galmorph.errors.DataError
        An unreadable table, a missing column, an image not found, a text in a
        column of numbers, a label with one value (each named with its rows).
    galmorph.errors.ParameterError
        No label, or an unknown task.
    """
    path = Path(path)
    labels = [labels] if isinstance(labels, str) else list(labels or ())
    if not labels:
        raise ParameterError("give at least one label column (--label COLUMN)")
    tasks = [task] * len(labels) if isinstance(task, str) else list(task)
    if len(tasks) != len(labels) or any(t not in TASK_CHOICES for t in tasks):
        raise ParameterError(f"task must be one of {', '.join(TASK_CHOICES)} (one, or one per "
                             f"label), not {task!r}")
    table = _read(path)
    for name in ["path", *labels]:
        if name not in table.colnames:
            what = "the image path column 'path'" if name == "path" else f"label column {name!r}"
            raise MissingColumnError(f"{path} has no {what}; its columns are "
                                     f"{', '.join(table.colnames[:20])}")
    if len(table) == 0:
        raise DataError(f"label table {path} has no rows")
    folder = Path(image_dir) if image_dir is not None else path.resolve().parent
    specs = list(heads) if heads is not None else [None] * len(labels)
    encoded = [_encode(name, table[name], t, f"column {name!r} of {path}", spec)
               for name, t, spec in zip(labels, tasks, specs)]
    targets = np.stack([e[0] for e in encoded], 1)                      # (rows, L)
    keep = np.isfinite(targets).any(1)
    rows = np.flatnonzero(keep)
    paths = _image_paths(table["path"], rows, folder, str(path))
    return LabelTable(path=path, rows=rows, paths=paths, targets=targets[keep],
                      heads=tuple(e[1] for e in encoded), n_rows=len(table),
                      skipped=[int(r) for r in np.flatnonzero(~keep)])
