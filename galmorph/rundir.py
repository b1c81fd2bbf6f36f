"""A run folder: the one place that writes and reads what a training run leaves behind.

A run folder (``galmorph train --out RUN_DIR``, ``galmorph finetune --out RUN_DIR``) holds

- ``config.json``  the resolved config, with the versions, device and precision that ran;
- ``split.json``   the IDs of the held-out validation galaxies (``val_ids``);
- ``metrics.csv``  one row per epoch (:data:`METRICS_COLUMNS` for ``galmorph train``;
  a finetuning run writes its own loss columns);
- ``last.pt`` / ``best.pt``  the latest checkpoint and the one with the lowest validation
  score.

:class:`RunDir` names these files and reads and writes them, so that ``training`` writes a
run and ``inference``, ``plots`` and ``workflows`` read one without importing ``training``
(as nanoGPT reads ``model_args`` and ``config`` from its checkpoint in one place). It is
torch- and NumPy-free.

Examples
--------
>>> run = RunDir("runs/gz2")                                   # doctest: +SKIP
>>> run.config()["model"], len(run.metrics()), run.best        # doctest: +SKIP
('resnet18-cpu', 12, PosixPath('runs/gz2/best.pt'))
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from galmorph._util._atomic import write_text_atomic
from galmorph.errors import DataError, RunDirError

__all__ = ["RunDir", "METRICS_COLUMNS", "read_json", "write_json", "read_metrics_file"]

#: Columns of a ``galmorph train`` run's ``metrics.csv``.
METRICS_COLUMNS = ("epoch", "train_rmse", "val_rmse", "lr", "images_per_s", "elapsed_s")


def write_json(path, doc):
    """Write ``doc`` to ``path`` as indented JSON, atomically (a reader never sees half).

    Parameters
    ----------
    path : path-like
        The file, e.g. a run's ``split.json``.
    doc : dict or list
        Plain JSON data.
    """
    write_text_atomic(path, json.dumps(doc, indent=1) + "\n")


def read_json(path, what="run file"):
    """The JSON document at ``path``.

    Parameters
    ----------
    path : path-like
        The file, e.g. a run's ``config.json``.
    what : str
        What the file holds, for the message when it is missing.

    Raises
    ------
    RunDirError
        The file is missing or damaged (it is named); a ``ValueError``.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path} does not exist: no {what} there") from None
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path} is unreadable ({exc}); it was not written by galmorph "
                          f"or is damaged") from None


def read_metrics_file(path, needed=()):
    """The columns of a ``metrics.csv``: ``(header, {column: [float, ...]})``.

    Parameters
    ----------
    path : path-like
        The file (it must exist).
    needed : sequence of str
        Columns that must be there.

    Returns
    -------
    header : list of str or None
        The column names; None for an empty file (then the dict is empty).
    columns : dict
        Column name -> one float per epoch (row).

    Raises
    ------
    DataError
        A needed column is missing, or a cell is not a number (the line and column named).
    """
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames
        if not header:
            return None, {}
        missing = [c for c in needed if c not in header]
        if missing:
            raise DataError(f"{path} lacks column(s) {', '.join(missing)} (it has "
                            f"{', '.join(header)}); is it a galmorph metrics.csv?")
        columns = {c: [] for c in header if c}
        for line, row in enumerate(reader, start=2):
            for c in columns:
                try:
                    columns[c].append(float(row[c]))
                except (TypeError, ValueError):
                    raise DataError(f"{path} line {line}, column {c}: {row[c]!r} is not a "
                                    f"number") from None
    return list(header), columns


class RunDir:
    """The files of one run folder, and their readers and writers.

    Parameters
    ----------
    path : path-like
        The run folder (it need not exist yet).

    Attributes
    ----------
    path : pathlib.Path
    config_file, split_file, metrics_file, best, last : pathlib.Path
        ``config.json``, ``split.json``, ``metrics.csv``, ``best.pt`` and ``last.pt`` in it.
    """

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def of_checkpoint(cls, checkpoint_path):
        """The run folder a checkpoint file sits in (its parent folder)."""
        return cls(Path(checkpoint_path).parent)

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self):
        return str(self.path)

    @property
    def config_file(self):
        return self.path / "config.json"

    @property
    def split_file(self):
        return self.path / "split.json"

    @property
    def metrics_file(self):
        return self.path / "metrics.csv"

    @property
    def best(self):
        return self.path / "best.pt"

    @property
    def last(self):
        return self.path / "last.pt"

    def checkpoint(self):
        """``best.pt`` where it exists, else ``last.pt`` (which may not exist either)."""
        return self.best if self.best.is_file() else self.last

    # ----------------------------------------------------------------- config.json
    def config(self):
        """The dict stored in ``config.json``.

        Raises
        ------
        RunDirError
            There is no ``config.json`` (not a run folder: nothing to resume), or it is
            damaged.
        """
        if not self.config_file.is_file():
            raise RunDirError(f"{self.path} is not a galmorph run directory (no config.json); "
                              f"nothing to resume there. Start a new run with "
                              f"'galmorph train DATA_DIR --model NAME --out {self.path}'")
        try:
            return json.loads(self.config_file.read_text())
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{self.config_file} is unreadable ({exc}); it was not written "
                              f"by galmorph or is damaged. Choose a new --out") from None

    def write_config(self, doc):
        """Write ``config.json`` atomically (the folder is created)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.config_file, doc)

    # ------------------------------------------------------------------ split.json
    def split(self):
        """The dict stored in ``split.json`` (``val_ids``, ``seed``, ``val_fraction``...).

        Raises
        ------
        RunDirError
            There is no ``split.json``, or it is damaged.
        """
        return read_json(self.split_file, "saved validation split")

    def val_ids(self):
        """The held-out galaxy IDs of ``split.json`` (a list), or None where there is none."""
        if not self.split_file.is_file():
            return None
        return self.split()["val_ids"]

    def write_split(self, doc):
        """Write ``split.json`` atomically."""
        write_json(self.split_file, doc)

    # ----------------------------------------------------------------- metrics.csv
    def metrics(self):
        """The rows of ``metrics.csv`` as dicts of numbers (``epoch`` an int); empty when the
        file is absent or holds no epoch yet."""
        if not self.metrics_file.is_file():
            return []
        header, columns = read_metrics_file(self.metrics_file)
        if not header:
            return []
        names = [c for c in header if c]
        return [{c: (int(v) if c == "epoch" else v) for c, v in zip(names, values)}
                for values in zip(*(columns[c] for c in names))]

    def write_metrics(self, rows, columns=METRICS_COLUMNS):
        """(Re)write ``metrics.csv`` from the epoch rows, atomically.

        Parameters
        ----------
        rows : list of dict
            One row per epoch, holding at least ``columns``.
        columns : sequence of str
            The columns, in order (default :data:`METRICS_COLUMNS`; a finetuning run
            passes its own).
        """
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in columns})
        write_text_atomic(self.metrics_file, buf.getvalue())
