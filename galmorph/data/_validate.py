"""Validation helpers behind :mod:`galmorph.data.catalogs`.

The catalog readers run a fixed sequence of checks, one *kind* of problem at
a time (missing images, duplicate IDs, NaN, tree breaks, ...). A
:class:`Policy` decides what happens to the rows that fail: with
``on_error="raise"`` the first kind that has any stops the read with a
:class:`~galmorph.errors.DataError` listing every failing row of that kind
(the first few in full plus a count); with ``on_error="skip"`` they are
dropped and recorded, so that nothing is ever lost silently. The default,
``"auto"``, raises too, except that it skips (and sums up in one warning) the
rows of a GZ2 release table that break the tree beyond :data:`GZ2_TREE_ATOL`.

The checks on image files (existence, header, size, mode) live in
:mod:`galmorph.data._files`.
"""
from __future__ import annotations

import os
import re
import sys
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import schema
from ..errors import DataError
from ..labels import check_labels, gz2_to_kaggle

__all__ = ["ON_ERROR", "TREE_ATOL", "GZ2_TREE_ATOL", "CatalogWarning", "Issue", "Policy",
           "LabelRows", "Parts", "parse_int_id", "duplicate_issues", "value_issues",
           "tree_issues", "check_ids", "check_label_rows", "close_read", "count"]

#: Accepted values of ``on_error``: ``"auto"`` (the readers' default) is ``"raise"``,
#: except that the rows of a GZ2 release that break the tree are skipped (see module doc).
ON_ERROR = ("auto", "raise", "skip")

#: Tolerance on a question's sum in label tables (Kaggle labels agree to 1e-4; room for float32).
TREE_ATOL = 0.01
#: The same in GZ2 release tables. On gz2-1k's weighted fractions the 3-decimal rounding moves
#: a sum by <= 0.005, and 16 rows answer 0 to a question that under one (weighted) vote reached:
#: up to 0.022, 0.88 of a vote. 0.025 is one vote of 40 classifications (median 43); see
#: docs/data.rst. Larger breaks (some debiased rows, up to 1.0) are not rounding.
GZ2_TREE_ATOL = 0.025

_INT_RE = re.compile(r"^[0-9]{1,18}$")  # up to 18 digits always fits int64


class CatalogWarning(UserWarning):
    """Rows or files were skipped while reading a catalog (``on_error="skip"``)."""


def parse_int_id(value):
    """``int`` for a decimal integer string (or integer), else ``None``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.endswith(".0"):  # IDs that went through a float column, e.g. "100008.0"
        text = text[:-2]
    return int(text) if _INT_RE.match(text) else None


def count(n, noun, plural=None):
    """``"1 row"``, ``"2 rows"``; ``plural`` for irregular nouns (``"galaxies"``)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


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
    on_error : {"auto", "raise", "skip"}
        ``"auto"`` raises, except for the kinds handled with a ``release`` reason.
    limit : int
        How many failing rows an error message lists in full.
    """

    def __init__(self, on_error="auto", limit=10):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be 'auto', 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        self.limit = limit
        self.skipped = []  # (id_or_file, reason)
        self.by_default = ""  # why rows were skipped under on_error="auto", for the warning

    def handle(self, reason, header, issues, hint="", release=None):
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
        release : str, optional
            For problems of a public release that the user cannot fix: why
            ``on_error="auto"`` skips them (said in the warning) instead of raising.

        Returns
        -------
        set of int
            Positions of the candidate rows to drop (empty when no issues).
        """
        if not issues:
            return set()
        if self.on_error == "raise" or (self.on_error == "auto" and not release):
            raise DataError(self.format(header, issues, hint))
        if self.on_error == "auto":
            self.by_default = release
        self.skipped.extend((i.key, f"{reason}: {i.detail}") for i in issues)
        return {i.pos for i in issues if i.pos is not None}

    def format(self, header, issues, hint=""):
        lines = [header.rstrip(":") + ":"]
        lines += [f"  {i.detail}" for i in issues[: self.limit]]
        if len(issues) > self.limit:
            lines.append(f"  ... and {len(issues) - self.limit} more "
                         f"({len(issues)} in all)")
        tail = (hint + " " if hint else "") + (
            "Or pass --on-error skip (on_error='skip' in Python) to leave them out; they are "
            "then listed in the skip report (--report FILE) and in Catalog.skipped.")
        lines.append(tail)
        return "\n".join(lines)


class LabelRows:
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


class Parts(NamedTuple):
    """Validated rows of a labelled layout, ready to become a ``Catalog``."""

    ids: np.ndarray     # (N,) int64
    paths: list         # N Paths
    labels: np.ndarray  # (N, 37) weighted fractions
    table: object       # DataFrame, N rows
    tables: list        # label tables read (Paths), for Catalog.sources
    n_rows: int         # rows read, before any were skipped


def close_read(policy, catalog, n_inputs, report):
    """Close a read: attach the skips, warn once, write the report; refuse an empty catalog.

    ``catalog`` is the new ``Catalog``; ``report`` (optional) the skip report path.
    """
    catalog.skipped = policy.skipped
    if policy.skipped:
        kinds = Counter(reason.split(":", 1)[0] for _, reason in policy.skipped)
        where = (f"report written to {report}" if report is not None
                 else "see Catalog.skipped or Catalog.write_report()")
        first = [_row_of(reason) for _, reason in policy.skipped[:3]]
        more = ", ..." if len(policy.skipped) > 3 else ""
        why = f"; {policy.by_default}" if policy.by_default else ""
        warnings.warn(f"{catalog.layout} catalog from {catalog.sources.get('root')}: kept "
                      f"{len(catalog)}, skipped {len(policy.skipped)} "
                      f"({', '.join(f'{k}: {n}' for k, n in kinds.items())}; first: "
                      f"{', '.join(first)}{more}){why}; {where}",
                      CatalogWarning, stacklevel=_user_stacklevel())
    if report is not None:
        catalog.write_report(report)
    if len(catalog) == 0:
        first = "; ".join(reason for _, reason in policy.skipped[:3])
        raise DataError(f"no galaxies left in the {catalog.layout} catalog from "
                        f"{catalog.sources.get('root')}: all {n_inputs} inputs were skipped "
                        f"(first reasons: {first})")
    return catalog


def _row_of(reason):
    """``"gz2.csv line 7 (dr7objid 5877)"`` of a skip reason ``"<kind>: <row>: <what>"``."""
    parts = reason.split(": ", 2)
    return parts[1] if len(parts) == 3 else parts[-1]


def _user_stacklevel():
    """``stacklevel`` that points a warning at the first caller outside this package."""
    frame, level = sys._getframe(1), 1
    here = os.path.dirname(os.path.abspath(__file__))
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return level


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


def value_issues(frame, columns, where, keys, values=None, nan_allowed=None, atol=0.01,
                 id_name="GalaxyID"):
    """Non-numeric, NaN and out-of-range label values, one :class:`Issue` per row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw table (columns as read).
    columns : sequence of str
        Label columns to check, in output order.
    where, keys : callable, sequence
        Row name and galaxy ID of each row, for the messages.
    values : ndarray, shape (N, len(columns)), optional
        The columns as numbers (NaN where blank or text), if already computed.
    nan_allowed : ndarray of bool, shape (N, len(columns)), optional
        Cells where a blank is legitimate (GZ2: a question nobody reached).
    atol : float
        Tolerance on the [0, 1] range (as :func:`galmorph.labels.check_labels`).

    Returns
    -------
    list of Issue
    """
    values = _numeric(frame, columns) if values is None else values
    problems = defaultdict(list)
    for j, name in enumerate(columns):
        raw, num = frame[name], values[:, j]
        blank = np.isnan(num)
        text = raw.notna().to_numpy() & blank
        for r in np.flatnonzero(text):
            problems[r].append(f"{name} = {raw.iloc[r]!r} is not a number")
        nan = blank & ~text
        if nan_allowed is not None:
            nan &= ~nan_allowed[:, j]
        for r in np.flatnonzero(nan):
            problems[r].append(f"{name} is NaN or empty")
        for r in np.flatnonzero(~blank & ((num < -atol) | (num > 1 + atol))):
            problems[r].append(f"{name} = {num[r]:.6g} is outside [0, 1]")
    return [Issue(int(r), keys[r], f"{where(r)} ({id_name} {keys[r]}): " + "; ".join(p))
            for r, p in sorted(problems.items())]


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


def tree_issues(labels, where, keys, atol=TREE_ATOL, gz2=False, id_name="GalaxyID"):
    """Rows of weighted fractions that break the GZ2 tree, one :class:`Issue` per row.

    Uses :func:`galmorph.labels.check_labels`; ``gz2=True`` names the GZ2
    release columns instead of the Kaggle ones.
    """
    check = check_labels(labels, atol=atol)
    problems = defaultdict(list)
    for r, c in check.non_finite:
        problems[r].append(f"{schema.KAGGLE_COLUMNS[c]} is NaN or infinite")
    for r, c in check.out_of_range:
        problems[r].append(f"{schema.KAGGLE_COLUMNS[c]} is outside [0, 1]")
    for v in check.violations:
        problems[v.row].append(_question_text(v, gz2))
    return [Issue(int(r), keys[r], f"{where(r)} ({id_name} {keys[r]}): " + "; ".join(p))
            for r, p in sorted(problems.items())]


def check_ids(rows, column, policy, what, name=None):
    """Parse ``rows.frame[column]`` to integers; bad ones are one kind of problem.

    ``name`` is the ID's name in messages (default: ``column``).
    """
    name = name or column
    parsed = [parse_int_id(v) for v in rows.frame[column]]
    bad = [Issue(i, str(rows.frame[column].iloc[i]),
                 f"{rows.where(i)}: {name} {rows.frame[column].iloc[i]!r} is not an integer")
           for i, v in enumerate(parsed) if v is None]
    rows.drop(policy.handle(f"bad {name}", f"{count(len(bad), 'row')} of {what} without a "
                            f"valid integer {name}", bad, f"Fix the {name} values."))
    rows.ids = np.array([v for v in parsed if v is not None], dtype=object)  # the rows kept
    rows.frame[column] = rows.ids.astype(np.int64)


def _unreached(labels, atol=TREE_ATOL):
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


def check_label_rows(rows, policy, what, columns, flavour=None):
    """Duplicate IDs, bad values, then tree breaks; sets ``rows.labels`` (N, 37).

    ``flavour=None`` reads Kaggle weighted fractions as they are; a GZ2
    flavour converts the release's conditional fractions with
    :func:`galmorph.labels.gz2_to_kaggle`, where blanks are legitimate in
    questions nobody reached.
    """
    dup = duplicate_issues(list(rows.ids), rows.where, rows.id_name)
    rows.drop(policy.handle("duplicate ID", f"{count(len(dup), 'row')} of {what} sharing "
                            f"their {rows.id_name} with another row", dup,
                            "Remove the duplicate rows."))
    values = _numeric(rows.frame, columns)  # (N, 37)
    if flavour is None:
        # A question blank in all its answers is unknown for that row (partial labels);
        # one blank among numbers is an error below.
        labels = values
        allowed = _unknown_cells(values)
    else:
        labels = _gz2_labels(values, flavour)
        allowed = _unreached(labels, GZ2_TREE_ATOL)
    bad = value_issues(rows.frame, columns, rows.where, rows.ids, values, allowed,
                       id_name=rows.id_name)
    if flavour is None:
        bad = _merge_issues(bad, _unlabelled_rows(values, rows))
    drop = policy.handle("bad value", f"{count(len(bad), 'row')} of {what} with NaN, "
                         f"non-numeric or out-of-range vote fractions", bad,
                         "Vote fractions must be numbers in [0, 1], and a question is all "
                         "numbers, or all empty where it is unknown; fix or remove the rows.")
    rows.labels = labels
    rows.drop(drop)
    release = flavour is not None
    atol = GZ2_TREE_ATOL if release else TREE_ATOL
    broken = tree_issues(rows.labels, rows.where, rows.ids, atol=atol, gz2=release,
                         id_name=rows.id_name)
    rows.drop(policy.handle(
        "tree break", f"{len(broken)} of {count(len(rows), 'row')} of {what} breaking the GZ2 "
        f"tree (the answers to a question must sum to the answer leading to it, within "
        f"{atol:g})", broken, "Fix these rows (a question reached by some volunteers needs "
        "answers) or remove them.",
        release=release and f"a GZ2 release's rows that break the tree by more than "
                            f"{GZ2_TREE_ATOL:g} (more than its rounding explains) are skipped "
                            f"by default; on_error='raise' (--on-error raise) stops at them"))


def _unknown_cells(values):
    """``(N, 37)`` bool: cells of questions left blank in all their answers (unknown)."""
    blank = np.isnan(values)
    out = np.zeros(values.shape, dtype=bool)
    for q in schema.QUESTIONS:
        s = schema.QUESTION_SLICES[q.number]
        out[:, s] = blank[:, s].all(axis=1)[:, None]
    return out


def _unlabelled_rows(values, rows):
    """One :class:`Issue` per row in which no question is known."""
    empty = np.isnan(values).all(axis=1)
    return [Issue(int(r), rows.ids[r], f"{rows.name(int(r))}: no question is labelled "
                  f"(every vote fraction is empty)") for r in np.flatnonzero(empty)]


def _merge_issues(first, second):
    """Issues of both lists, one per row (details joined), in row order."""
    by_pos = {}
    for issue in first + second:
        if issue.pos in by_pos:
            old = by_pos[issue.pos]
            by_pos[issue.pos] = Issue(old.pos, old.key, old.detail + "; " +
                                      issue.detail.split(": ", 1)[-1])
        else:
            by_pos[issue.pos] = issue
    return [by_pos[p] for p in sorted(by_pos)]


def _gz2_labels(values, flavour):
    """GZ2 conditional fractions in GZ2_COLUMNS order -> Kaggle weighted (N, 37)."""
    names = [f"{stem}_{flavour}" for stem in schema.GZ2_COLUMNS]
    return gz2_to_kaggle(dict(zip(names, values.T)), flavour)
