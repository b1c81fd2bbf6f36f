"""The Galaxy Zoo 2 decision tree, as data.

This is the single source of truth for the 11 questions and 37 answers of the
Kaggle "Galaxy Zoo - The Galaxy Challenge" encoding: column names, readable
labels, the GZ2 release column names and the tree structure. Every slice,
parent index and pretty name in galmorph is derived from :data:`QUESTIONS`;
no other module hard-codes a column number.

The Kaggle labels are *weighted* (cumulative) vote fractions: the answers of a
question sum to the fraction of the answer that led to it (its *parent*), so
that Q1 and Q6 sum to 1, Q2 sums to answer 1.2, and so on (Willett et al.
2013, Table 2; Dieleman et al. 2015, Sect. 3).

This module is deliberately torch-free and holds the tree only; the checks and
conversions of label arrays on it live in :mod:`galmorph.labels`, the
differentiable tree normalisation in :mod:`galmorph.models.tree`.

References
----------
Willett K. W. et al., 2013, MNRAS 435, 2835 (Galaxy Zoo 2).
Dieleman S., Willett K. W., Dambre J., 2015, MNRAS 450, 1441.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Answer", "Question", "QUESTIONS", "ANSWERS", "N_ANSWERS", "N_QUESTIONS",
    "KAGGLE_COLUMNS", "ANSWER_LABELS", "GZ2_COLUMNS", "GZ2_FLAVOURS", "DEFAULT_FLAVOUR",
    "ID_COLUMN", "KAGGLE_LABEL_FILE", "KAGGLE_IMAGE_DIRS", "MERGER_COLUMN", "PAPER_MERGER_THRESHOLD",
    "QUESTION_SLICES", "PARENT_INDEX", "TREE_ORDER", "SCHEMA_VERSION",
    "column_index", "describe_column", "question_of",
]

#: Bumped whenever the tree or column order changes; stored in checkpoints.
SCHEMA_VERSION = "gz2-kaggle-37/1"

#: Identifier column of the Kaggle tables.
ID_COLUMN = "GalaxyID"
#: The Kaggle challenge's label table and image folders ("Galaxy Zoo - The Galaxy Challenge"),
#: which galmorph reads (galmorph.data._kaggle) and writes (galmorph.synth).
KAGGLE_LABEL_FILE = "training_solutions_rev1.csv"
KAGGLE_IMAGE_DIRS = {"training": "images_training_rev1", "test": "images_test_rev1"}


@dataclass(frozen=True)
class Answer:
    """One answer of the tree.

    ``kaggle`` is the Kaggle column (``Class1.1``), ``label`` a readable
    name (``smooth``) and ``gz2`` the stem of the GZ2 release columns
    (``t01_smooth_or_features_a01_smooth``), to which the release appends
    ``_fraction``, ``_weighted_fraction``, ``_debiased`` etc.
    """

    kaggle: str
    label: str
    gz2: str
    question: int = 0  # filled in by Question


@dataclass(frozen=True)
class Question:
    """One question: its number, wording, answers and the answer leading to it."""

    number: int
    text: str
    answers: tuple
    parent: str | None  # Kaggle column of the parent answer, None for a root
    gz2_task: str = ""

    @property
    def columns(self):
        return [a.kaggle for a in self.answers]


def _q(number, text, gz2_task, parent, answers):
    answers = tuple(
        Answer(f"Class{number}.{i + 1}", label, f"{gz2_task}_{stem}", number)
        for i, (label, stem) in enumerate(answers)
    )
    return Question(number, text, answers, parent, gz2_task)


#: The 11 questions in Kaggle column order (Willett et al. 2013, Table 2).
QUESTIONS = (
    _q(1, "Is the galaxy simply smooth and rounded, with no sign of a disk?",
       "t01_smooth_or_features", None,
       [("smooth", "a01_smooth"), ("features or disk", "a02_features_or_disk"),
        ("star or artifact", "a03_star_or_artifact")]),
    _q(2, "Could this be a disk viewed edge-on?", "t02_edgeon", "Class1.2",
       [("edge-on", "a04_yes"), ("not edge-on", "a05_no")]),
    _q(3, "Is there a sign of a bar feature through the centre of the galaxy?",
       "t03_bar", "Class2.2",
       [("bar", "a06_bar"), ("no bar", "a07_no_bar")]),
    _q(4, "Is there any sign of a spiral arm pattern?", "t04_spiral", "Class2.2",
       [("spiral", "a08_spiral"), ("no spiral", "a09_no_spiral")]),
    _q(5, "How prominent is the central bulge, compared with the rest of the galaxy?",
       "t05_bulge_prominence", "Class2.2",
       [("no bulge", "a10_no_bulge"), ("just noticeable bulge", "a11_just_noticeable"),
        ("obvious bulge", "a12_obvious"), ("dominant bulge", "a13_dominant")]),
    _q(6, "Is there anything odd?", "t06_odd", None,
       [("odd", "a14_yes"), ("not odd", "a15_no")]),
    _q(7, "How rounded is it?", "t07_rounded", "Class1.1",
       [("completely round", "a16_completely_round"), ("in between", "a17_in_between"),
        ("cigar-shaped", "a18_cigar_shaped")]),
    _q(8, "Is the odd feature a ring, or is the galaxy disturbed or irregular?",
       "t08_odd_feature", "Class6.1",
       [("ring", "a19_ring"), ("lens or arc", "a20_lens_or_arc"),
        ("disturbed", "a21_disturbed"), ("irregular", "a22_irregular"),
        ("other", "a23_other"), ("merger", "a24_merger"), ("dust lane", "a38_dust_lane")]),
    _q(9, "Does the galaxy have a bulge at its centre? If so, what shape?",
       "t09_bulge_shape", "Class2.1",
       [("rounded bulge", "a25_rounded"), ("boxy bulge", "a26_boxy"),
        ("no bulge (edge-on)", "a27_no_bulge")]),
    _q(10, "How tightly wound do the spiral arms appear?", "t10_arms_winding", "Class4.1",
       [("tight arms", "a28_tight"), ("medium arms", "a29_medium"), ("loose arms", "a30_loose")]),
    _q(11, "How many spiral arms are there?", "t11_arms_number", "Class4.1",
       [("1 arm", "a31_1"), ("2 arms", "a32_2"), ("3 arms", "a33_3"), ("4 arms", "a34_4"),
        ("more than 4 arms", "a36_more_than_4"), ("can't tell", "a37_cant_tell")]),
)

# ---------------------------------------------------------------------------
# Everything below is derived from QUESTIONS.
# ---------------------------------------------------------------------------

#: The 37 answers in Kaggle column order.
ANSWERS = tuple(a for q in QUESTIONS for a in q.answers)
N_ANSWERS = len(ANSWERS)
N_QUESTIONS = len(QUESTIONS)
#: ``Class1.1`` ... ``Class11.6``.
KAGGLE_COLUMNS = tuple(a.kaggle for a in ANSWERS)
#: Readable answer labels, e.g. ``"smooth"``, ``"merger"``.
ANSWER_LABELS = tuple(a.label for a in ANSWERS)
#: Stems of the GZ2 release columns, e.g. ``t08_odd_feature_a24_merger``.
GZ2_COLUMNS = tuple(a.gz2 for a in ANSWERS)
#: Vote-fraction flavours of the GZ2 release, its column suffixes (``<stem>_<flavour>``),
#: in the release's order (Willett et al. 2013; Hart et al. 2016).
GZ2_FLAVOURS = ("fraction", "weighted_fraction", "debiased")
#: The flavour galmorph trains on unless told otherwise: the Kaggle labels' kind.
DEFAULT_FLAVOUR = "weighted_fraction"

#: The GZ2 answer whose vote fraction is the merger probability ("Is the odd feature a merger?").
MERGER_COLUMN = "Class8.6"
#: The paper's merger rule: ``Class8.6 >= 0.54``, a threshold picked by eye (here, not in
#: :mod:`galmorph.astro.mergers`, so that the command line reads it without astropy).
PAPER_MERGER_THRESHOLD = 0.54

_INDEX = {c: i for i, c in enumerate(KAGGLE_COLUMNS)}


def _slices():
    out, start = {}, 0
    for q in QUESTIONS:
        out[q.number] = slice(start, start + len(q.answers))
        start += len(q.answers)
    return out


#: Question number -> slice into the 37 columns.
QUESTION_SLICES = _slices()
#: Question number -> column index of its parent answer (None for Q1 and Q6).
PARENT_INDEX = {q.number: (None if q.parent is None else _INDEX[q.parent]) for q in QUESTIONS}


def _tree_order():
    # Topological order: a question comes after the question holding its parent.
    done, order = set(), []
    while len(order) < len(QUESTIONS):
        for q in QUESTIONS:
            if q.number in done:
                continue
            if q.parent is None or ANSWERS[_INDEX[q.parent]].question in done:
                order.append(q.number)
                done.add(q.number)
    return tuple(order)


#: Question numbers ordered so that every parent is computed before its children.
TREE_ORDER = _tree_order()


def column_index(name):
    """Index (0..36) of a Kaggle column (``"Class8.6"``), label or GZ2 stem."""
    if name in _INDEX:
        return _INDEX[name]
    for i, a in enumerate(ANSWERS):
        if name in (a.label, a.gz2):
            return i
    raise KeyError(f"unknown GZ2 answer {name!r}; expected a Kaggle column such as "
                   f"'Class8.6', a label such as 'merger', or a GZ2 stem")


def question_of(name):
    """The :class:`Question` an answer (any name accepted by :func:`column_index`) belongs to."""
    return QUESTIONS[ANSWERS[column_index(name)].question - 1]


def describe_column(name):
    """Question and answer in words.

    Examples
    --------
    >>> describe_column("Class8.6")
    'Q8 Is the odd feature a ring, or is the galaxy disturbed or irregular? -> merger'
    >>> KAGGLE_COLUMNS[column_index("t08_odd_feature_a24_merger")]
    'Class8.6'
    """
    a = ANSWERS[column_index(name)]
    q = QUESTIONS[a.question - 1]
    return f"Q{q.number} {q.text} -> {a.label}"
