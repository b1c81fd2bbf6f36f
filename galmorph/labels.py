"""Label arrays on the GZ2 tree: which questions a row knows, the tree checks, and
the conversions between weighted, conditional and GZ2 release fractions.

Every array here is ``(N, 37)`` (or one ``(37,)`` row) in Kaggle column order, the
order of :data:`galmorph.schema.ANSWERS`; NaN in all cells of a question means the
question is unknown for that row. Torch-free, like :mod:`galmorph.schema`, the one
module it builds on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from galmorph.schema import (GZ2_COLUMNS, GZ2_FLAVOURS, KAGGLE_COLUMNS, N_ANSWERS, PARENT_INDEX,
                             QUESTION_SLICES, QUESTIONS, TREE_ORDER)

__all__ = [
    "known_questions", "known_mask", "partial_questions",
    "TreeViolation", "LabelCheck", "check_labels",
    "weighted_to_conditional", "conditional_to_weighted",
    "normalize_tree_numpy", "gz2_to_kaggle",
]


# ---------------------------------------------------------------------------
# Tree constraints
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TreeViolation:
    """One row whose answers to one question do not sum to the parent answer."""

    row: int
    question: int
    total: float
    expected: float

    def __str__(self):
        q = QUESTIONS[self.question - 1]
        target = "1" if q.parent is None else q.parent
        return (f"row {self.row}: Q{self.question} ({', '.join(q.columns)}) sums to "
                f"{self.total:.6g}, expected {target} = {self.expected:.6g}")


@dataclass
class LabelCheck:
    """Result of :func:`check_labels`; truthy when all rows satisfy the tree."""

    n_rows: int
    violations: list = field(default_factory=list)
    out_of_range: list = field(default_factory=list)  # (row, column) pairs
    non_finite: list = field(default_factory=list)    # (row, column) pairs

    @property
    def ok(self):
        return not (self.violations or self.out_of_range or self.non_finite)

    def __bool__(self):
        return self.ok

    @property
    def bad_rows(self):
        rows = {v.row for v in self.violations}
        rows |= {r for r, _ in self.out_of_range} | {r for r, _ in self.non_finite}
        return sorted(rows)

    def summary(self, ids=None, limit=5):
        """A readable report; ``ids`` maps row numbers to galaxy IDs.

        Parameters
        ----------
        ids : sequence or mapping, optional
            Galaxy ID of each row, indexed by row number; None names rows by number only.
        limit : int
            At most this many problems of each kind are listed (default 5); the rest
            are counted.

        Returns
        -------
        str
            One line when all rows pass, else a header and one line per problem shown.
        """
        if self.ok:
            return f"all {self.n_rows} rows satisfy the GZ2 tree"

        def name(r):
            return f"row {r}" if ids is None else f"row {r} (GalaxyID {ids[r]})"

        lines = [f"{len(self.bad_rows)} of {self.n_rows} rows break the GZ2 label rules:"]
        for r, c in self.non_finite[:limit]:
            lines.append(f"  {name(r)}: {KAGGLE_COLUMNS[c]} is NaN or infinite (a question "
                         f"must be all numbers, or all NaN where it is unknown)")
        for r, c in self.out_of_range[:limit]:
            lines.append(f"  {name(r)}: {KAGGLE_COLUMNS[c]} is outside [0, 1]")
        for v in self.violations[:limit]:
            lines.append("  " + str(v).replace(f"row {v.row}", name(v.row), 1))
        n_more = sum(max(0, len(kind) - limit)
                     for kind in (self.non_finite, self.out_of_range, self.violations))
        if n_more > 0:
            lines.append(f"  ... and {n_more} further problems (first {limit} of each kind "
                         f"shown)")
        return "\n".join(lines)


def _as_2d(labels):
    arr = np.asarray(labels, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != N_ANSWERS:
        raise ValueError(f"expected labels of shape (N, {N_ANSWERS}), got {np.shape(labels)}")
    return arr


def known_questions(labels):
    """``(N, 11)`` bool: which questions of each row are known (no NaN answer cell).

    Labels may be *partial*: a catalogue can lack whole questions (for all its
    rows or for some), written as NaN in every answer cell of that question.
    Unknown means unknown, never zero: the loss and the metrics skip those cells
    (:func:`known_mask`).
    """
    arr = _as_2d(labels)
    return np.column_stack([np.isfinite(arr[:, QUESTION_SLICES[q.number]]).all(axis=1)
                            for q in QUESTIONS])


def known_mask(labels):
    """``(N, 37)`` bool: the answer cells whose whole question is known (see
    :func:`known_questions`)."""
    known = known_questions(labels)
    return np.repeat(known, [len(q.answers) for q in QUESTIONS], axis=1)


def partial_questions(labels):
    """``(row, question, columns)`` of each question that is only partly present.

    A question must be all numbers or all NaN in a row; ``columns`` names its
    NaN cells, so a message can point at them.
    """
    arr = _as_2d(labels)
    out = []
    for q in QUESTIONS:
        block = np.isnan(arr[:, QUESTION_SLICES[q.number]])          # (N, n_answers)
        for r in np.flatnonzero(block.any(axis=1) & ~block.all(axis=1)):
            out.append((int(r), q.number,
                        [c for c, b in zip(q.columns, block[r]) if b]))
    return sorted(out)


def check_labels(labels, atol=0.01):
    """Check that weighted vote fractions satisfy the GZ2 tree.

    Q1 and Q6 must each sum to 1 and every other question to its parent
    answer (Q2 to Class1.2; Q3, Q4 and Q5 to Class2.2; Q7 to Class1.1; Q8 to
    Class6.1; Q9 to Class2.1; Q10 and Q11 to Class4.1). Values must be finite
    and in [0, 1].

    A question may be *unknown*: NaN in all of its answer cells (a catalogue
    labelled for some questions only). It is not checked, nor are its children
    against it. A question that is NaN in some cells and not in others is an
    error (``non_finite`` lists those cells), as is any infinite value.

    Parameters
    ----------
    labels : array-like, shape (N, 37) or (37,)
        Weighted fractions in Kaggle column order, NaN for unknown questions.
    atol : float
        Absolute tolerance on each question's sum and on the [0, 1] range.
        The Kaggle labels are rounded to 6 digits and agree to 1e-4; 0.01
        leaves room for float32 storage and rounded user tables.

    Returns
    -------
    LabelCheck
        Truthy when every row passes; ``.violations`` lists each failing
        row and question, ``.bad_rows`` the row numbers.

    Examples
    --------
    >>> import numpy as np
    >>> row = np.full(37, np.nan)
    >>> row[QUESTION_SLICES[1]] = [0.2, 0.7, 0.1]        # only Q1 known
    >>> bool(check_labels(row))
    True
    >>> row[0] = np.nan                                  # Q1 partly present
    >>> check_labels(row).non_finite
    [(0, 0)]
    """
    arr = _as_2d(labels)
    q_known = known_questions(arr)                               # (N, 11)
    known = np.repeat(q_known, [len(q.answers) for q in QUESTIONS], axis=1)  # (N, 37)
    check = LabelCheck(n_rows=len(arr))
    partly = np.zeros(arr.shape, dtype=bool)
    for r, number, _ in partial_questions(arr):
        partly[r, QUESTION_SLICES[number]] = np.isnan(arr[r, QUESTION_SLICES[number]])
    bad_cell = np.isinf(arr) | partly
    check.non_finite = [tuple(map(int, rc)) for rc in np.argwhere(bad_cell)]
    safe = np.where(np.isfinite(arr), arr, 0.0)
    check.out_of_range = [tuple(map(int, rc)) for rc in
                          np.argwhere(known & ((safe < -atol) | (safe > 1 + atol)))]
    bad_rows = {r for r, _ in check.non_finite}
    for q in QUESTIONS:
        total = safe[:, QUESTION_SLICES[q.number]].sum(axis=1)
        parent = PARENT_INDEX[q.number]
        if parent is None:
            expected, checkable = np.ones(len(arr)), q_known[:, q.number - 1]
        else:
            expected = safe[:, parent]
            checkable = q_known[:, q.number - 1] & np.isfinite(arr[:, parent])
        for r in np.flatnonzero(checkable & (np.abs(total - expected) > atol)):
            if int(r) not in bad_rows:
                check.violations.append(
                    TreeViolation(int(r), q.number, float(total[r]), float(expected[r])))
    check.violations.sort(key=lambda v: (v.row, v.question))
    return check


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------

def weighted_to_conditional(weighted):
    """Kaggle weighted fractions -> per-question conditional fractions.

    Each answer is divided by its parent answer, so every question sums to 1
    among the volunteers who reached it. Where the parent is 0 the question
    was never reached and its conditional fractions are set to 0.
    """
    w = _as_2d(weighted)
    cond = w.copy()
    for q in QUESTIONS:
        parent = PARENT_INDEX[q.number]
        if parent is None:
            continue
        p = w[:, parent:parent + 1]
        s = QUESTION_SLICES[q.number]
        with np.errstate(divide="ignore", invalid="ignore"):
            cond[:, s] = np.where(p > 0, w[:, s] / np.where(p > 0, p, 1.0), 0.0)
    return cond.reshape(np.shape(weighted)) if np.ndim(weighted) == 1 else cond


def conditional_to_weighted(conditional):
    """Per-question conditional fractions -> Kaggle weighted fractions.

    Multiplies each question by its parent's *weighted* fraction, in tree
    order (:data:`TREE_ORDER`). Exact inverse of :func:`weighted_to_conditional`
    wherever the parent is non-zero.
    """
    c = _as_2d(conditional)
    w = c.copy()
    for number in TREE_ORDER:
        parent = PARENT_INDEX[number]
        if parent is not None:
            s = QUESTION_SLICES[number]
            w[:, s] = c[:, s] * w[:, parent:parent + 1]
    return w.reshape(np.shape(conditional)) if np.ndim(conditional) == 1 else w


def normalize_tree_numpy(raw, eps=1e-12):
    """NumPy twin of :func:`galmorph.models.tree.tree_normalize` (ReLU variant).

    Clips to >= 0, normalises each question to sum to 1 (uniform when all are
    zero) and multiplies by the parent answer in tree order.

    Parameters
    ----------
    raw : array-like, shape (N, 37) or (37,)
        Raw network outputs, one row per galaxy.
    eps : float
        A question whose clipped outputs sum to ``eps`` or less counts as all zero
        (default 1e-12).

    Returns
    -------
    numpy.ndarray of float64, shape (N, 37)
        Kaggle weighted fractions; a 1-D input gives one row, shape ``(1, 37)``.
    """
    x = np.clip(_as_2d(raw), 0.0, None)
    cond = np.empty_like(x)
    for q in QUESTIONS:
        s = QUESTION_SLICES[q.number]
        total = x[:, s].sum(axis=1, keepdims=True)
        n = s.stop - s.start
        cond[:, s] = np.where(total > eps, x[:, s] / np.maximum(total, eps), 1.0 / n)
    return conditional_to_weighted(cond)


def gz2_to_kaggle(table, flavour="weighted_fraction"):
    """Map GZ2 release columns onto the 37 Kaggle weighted fractions.

    Parameters
    ----------
    table : mapping of column name -> array (pandas DataFrame, astropy Table, dict)
        Must hold ``<gz2 stem>_<flavour>`` for every answer, e.g.
        ``t08_odd_feature_a24_merger_weighted_fraction``.
    flavour : {"fraction", "weighted_fraction", "debiased"}
        Which GZ2 vote fraction to use. These are *conditional* fractions
        (each question sums to 1 among those who answered it); they are
        multiplied down the tree to match the Kaggle encoding. Debiased values
        are renormalised per question first, since debiasing breaks the sums.

    Returns
    -------
    numpy.ndarray, shape (N, 37)
    """
    if flavour not in GZ2_FLAVOURS:
        raise ValueError(f"flavour must be one of {', '.join(map(repr, GZ2_FLAVOURS))}, "
                         f"not {flavour!r}")
    names = [f"{stem}_{flavour}" for stem in GZ2_COLUMNS]
    missing = [n for n in names if n not in table.keys()]
    if missing:
        from galmorph.errors import MissingColumnError

        raise MissingColumnError(
            f"GZ2 table lacks {len(missing)} column(s) for flavour {flavour!r}: "
            f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    cond = np.column_stack([np.asarray(table[n], dtype=np.float64) for n in names])
    cond = np.nan_to_num(cond, nan=0.0)  # unreached questions are blank in the release
    if flavour == "debiased":
        for q in QUESTIONS:
            s = QUESTION_SLICES[q.number]
            total = cond[:, s].sum(axis=1, keepdims=True)
            cond[:, s] = np.where(total > 0, cond[:, s] / np.where(total > 0, total, 1), 0)
    return conditional_to_weighted(cond)
