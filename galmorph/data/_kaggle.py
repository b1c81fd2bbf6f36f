"""The Kaggle "Galaxy Zoo - The Galaxy Challenge" layout (Kaggle, 2014).

``images_training_rev1/<GalaxyID>.jpg`` with ``training_solutions_rev1.csv``
(``GalaxyID`` and the 37 weighted vote fractions ``Class1.1 ... Class11.6``),
and ``images_test_rev1/`` without labels. The public reader is
:func:`galmorph.data.catalogs.read_kaggle`.
"""
from __future__ import annotations

import numpy as np

from .. import schema
from ..errors import DataError
from ._files import index_images, match_images, read_table, scan_folder, table_columns
from ._validate import LabelRows, Parts, check_ids, check_label_rows, parse_int_id

__all__ = ["KAGGLE_CSV", "KAGGLE_DIRS", "TEACHER_FILE", "is_kaggle_folder", "is_teacher_labelled", "kaggle_csv", "kaggle_dir",
           "check_kaggle_columns", "read_training"]

#: The label table of the Kaggle training set (defined in the schema).
KAGGLE_CSV = schema.KAGGLE_LABEL_FILE
#: Image folder of each split.
KAGGLE_DIRS = schema.KAGGLE_IMAGE_DIRS
#: Written beside the label table by ``galmorph pseudo-label``: the labels came from a teacher
#: model (see :mod:`galmorph.training.pseudo`). Its images may be any size of at least the crop.
TEACHER_FILE = "teacher.json"


def is_kaggle_folder(names):
    """Whether a folder holding the file names ``names`` is in the Kaggle layout."""
    return KAGGLE_CSV in names or any(d in names or d + ".zip" in names
                                      for d in KAGGLE_DIRS.values())


def is_teacher_labelled(root):
    """Whether the Kaggle-layout folder ``root`` holds pseudo-labels from a teacher model."""
    return (root / TEACHER_FILE).is_file()


def kaggle_csv(root):
    """The training label table in ``root`` (also accepted zipped, as Kaggle ships it).

    Besides Kaggle's own name, one ``training_solutions_*.csv`` (for example a
    table labelled for some questions only, ``training_solutions_partial.csv``)
    is accepted.
    """
    for name in (KAGGLE_CSV, KAGGLE_CSV + ".zip", "training_solutions_rev1.zip"):
        if (root / name).is_file():
            return root / name
    others = sorted(root.glob("training_solutions_*.csv")) if root.is_dir() else []
    if len(others) == 1:
        return others[0]
    if len(others) > 1:
        raise DataError(f"{root}: several label tables ({', '.join(p.name for p in others)}); "
                        f"keep one, or name it {KAGGLE_CSV}")
    raise DataError(f"{root}: no {KAGGLE_CSV}; the Kaggle training layout needs the label table "
                    f"next to {KAGGLE_DIRS['training']}/ (to read images without labels use "
                    f"galmorph predict on the folder, or split='test' / layout='images' in Python)")


def kaggle_dir(root, split):
    """The image folder of ``split``; a clear error when missing or still zipped."""
    folder = root / KAGGLE_DIRS[split]
    if folder.is_dir():
        return folder
    if folder.with_suffix(".zip").is_file():
        raise DataError(f"{folder} is missing but {folder.name}.zip is there: unzip it in {root}")
    raise DataError(f"{root}: no {folder.name}/ folder of <GalaxyID>.jpg images")


def check_kaggle_columns(path, columns):
    """``GalaxyID`` plus the columns of whole questions (any order).

    A table may carry any subset of the 11 questions, but each question with
    all of its answers (Q2 is ``Class2.1`` and ``Class2.2``): the questions
    left out are unknown for every row. Returns the Kaggle columns present.
    """
    expected = (schema.ID_COLUMN,) + schema.KAGGLE_COLUMNS
    unknown = [c for c in columns if c not in expected]
    twice = sorted({c for c in columns if list(columns).count(c) > 1})
    parts = [f"column(s) {', '.join(twice)} appear more than once"] if twice else []
    if schema.ID_COLUMN not in columns:
        parts.append(f"missing column(s) {schema.ID_COLUMN}")
    present = [q for q in schema.QUESTIONS if any(c in columns for c in q.columns)]
    for q in present:
        lacking = [c for c in q.columns if c not in columns]
        if lacking:
            parts.append(f"Q{q.number} is only partly present: it has "
                         f"{', '.join(c for c in q.columns if c in columns)} but lacks "
                         f"{', '.join(lacking)} (a question comes with all its answers, or "
                         f"not at all)")
    if unknown:
        parts.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
    if not present and not unknown:
        parts.append("no label columns (Class1.1 ... Class11.6)")
    if parts:
        raise DataError(f"{path}: {'; '.join(parts)}. The header must be {schema.ID_COLUMN} "
                        f"followed by the 37 columns Class1.1 ... Class11.6 "
                        f"(galmorph.schema.KAGGLE_COLUMNS), as in Kaggle's {KAGGLE_CSV}, or "
                        f"by the columns of whole questions only")
    return [c for c in schema.KAGGLE_COLUMNS if c in columns]


def read_training(root, policy, size, mode, check):
    """Read and validate the training split of the Kaggle folder ``root``.

    Checks, in order: columns (always an error), GalaxyIDs, duplicates,
    values, the tree, then the images (see
    :func:`galmorph.data._files.match_images`). ``policy`` raises or records.
    Questions the table lacks, or leaves blank in a row, are NaN (unknown).

    Returns
    -------
    Parts
    """
    import pandas as pd

    folder = kaggle_dir(root, "training")
    csv_path = kaggle_csv(root)
    present = check_kaggle_columns(csv_path, table_columns(csv_path))
    frame = read_table(csv_path, id_columns=(schema.ID_COLUMN,))
    if frame.empty:
        raise DataError(f"{csv_path}: the table has a header but no rows")
    for column in schema.KAGGLE_COLUMNS:  # questions the table lacks are unknown: NaN
        if column not in present:
            frame[column] = np.nan
    n_rows = len(frame)
    where = [f"{csv_path.name} line {i + 2}" for i in range(n_rows)]  # line 1 is the header
    rows = LabelRows(frame, frame[schema.ID_COLUMN], where, schema.ID_COLUMN)
    check_ids(rows, schema.ID_COLUMN, policy, csv_path.name)
    check_label_rows(rows, policy, csv_path.name, schema.KAGGLE_COLUMNS)
    known = {parse_int_id(v) for v in frame[schema.ID_COLUMN]}
    paths = match_images(rows, index_images(scan_folder(folder)), policy, schema.ID_COLUMN,
                         folder, known, size, mode, check)
    # Rebuilt from the validated numbers: a column that held text in a skipped row
    # would otherwise stay of object dtype.
    table = pd.DataFrame(rows.labels, columns=schema.KAGGLE_COLUMNS)
    table.insert(0, schema.ID_COLUMN, rows.ids.astype(np.int64))
    return Parts(rows.ids.astype(np.int64), paths, rows.labels, table, [csv_path], n_rows)
