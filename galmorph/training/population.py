"""Population weights: a training loss that stands for the real galaxy population.

Most of ``gz-kaggle-5k`` was picked because volunteers classified it confidently
(round, in-between or cigar-shaped smooth, edge-on, or spiral: questions Q1, Q2,
Q4 and Q7); the rest of the shared labelled data is an unselected sample of the
population (:mod:`galmorph.data.populations`). A model trained on the mix learns
that a featured galaxy is a spiral (issue 27: the shipped model says ``Class4.1``
0.289 on average on unselected galaxies, volunteers 0.233). ``TrainConfig.
population_weights`` corrects the loss, question by question, with a weight per
galaxy and question (every answer cell of the question gets it):

``"none"`` (default)
    every known cell weighs 1: the plain masked MSE, as before.
``"mask"``
    the confident galaxies weigh 0 on the questions they were selected on
    (:data:`SELECTED_QUESTIONS`) and 1 on the others: they no longer teach
    Q1, Q2, Q4 and Q7, which only the unselected galaxies do.
``"importance"``
    label-shift importance weights: for each question, a galaxy's outcome is its
    leading answer, or "not asked" where most volunteers did not reach the
    question (``1 - sum`` of the question's weighted fractions leads); the
    weight is ``p_unselected(outcome) / p_all(outcome)`` over the labelled
    galaxies that know the question (add-one smoothed, capped at
    :data:`IMPORTANCE_CAP`, normalised to mean 1), so the weighted training
    set has the unselected galaxies' mix of outcomes. Questions that fewer
    than :data:`MIN_REFERENCE` unselected galaxies know keep weight 1.

Pseudo-labelled rows (:mod:`galmorph.training.pseudo`) are real-population
galaxies: every cell of theirs weighs ``pseudo_weight``, whatever the mode.

The loss is then the weighted mean over known cells, ``sum(w * d**2) /
sum(w * known)`` per batch (:func:`weighted_sq_error`; :func:`masked_sq_error` is the
unweighted one): a cell of weight 0 adds nothing to it nor to its gradient. Balanced
sampling, the third option of the issue, is not implemented: with a few hundred
unselected galaxies per question it would repeat them many times per epoch, where
weights keep every batch.
"""
from __future__ import annotations

import numpy as np

from galmorph import schema
from galmorph.data.populations import unselected_mask

__all__ = ["POPULATION_WEIGHTS", "SELECTED_QUESTIONS", "IMPORTANCE_CAP", "MIN_REFERENCE",
           "question_outcomes", "question_weights", "cell_weights", "population_of",
           "untouched_of", "masked_sq_error", "weighted_sq_error"]

#: The modes of ``TrainConfig.population_weights``.
POPULATION_WEIGHTS = ("none", "mask", "importance")
#: The questions the confident galaxies of gz-kaggle-5k were selected on (smooth and its
#: roundness, edge-on, spiral; data/README.md), which ``"mask"`` keeps them from teaching.
SELECTED_QUESTIONS = (1, 2, 4, 7)
#: Largest importance weight (before normalising): a rare outcome in the training set does
#: not let one galaxy dominate a question.
IMPORTANCE_CAP = 10.0
#: Unselected galaxies that must know a question for its importance weights to be estimated.
MIN_REFERENCE = 50


def question_outcomes(labels, question):
    """The outcome of ``question`` for each galaxy: its leading answer, or "not asked".

    Parameters
    ----------
    labels : numpy.ndarray, shape (N, 37)
        Weighted fractions (NaN: unknown).
    question : galmorph.schema.Question

    Returns
    -------
    numpy.ndarray of int, shape (N,)
        ``0 .. n_answers - 1`` for the leading answer, ``n_answers`` where most
        volunteers never reached the question, ``-1`` where it is unknown.
    """
    cells = labels[:, schema.QUESTION_SLICES[question.number]]       # (N, n_answers)
    known = np.isfinite(cells).all(axis=1)
    filled = np.nan_to_num(cells)
    with_rest = np.concatenate([filled, 1.0 - filled.sum(axis=1, keepdims=True)], axis=1)
    return np.where(known, with_rest.argmax(axis=1), -1)


def question_weights(labels, unselected, mode):
    """``float64 (N, 11)``: the weight of each galaxy on each question.

    Parameters
    ----------
    labels : numpy.ndarray, shape (N, 37)
        The labelled galaxies' weighted fractions (NaN: unknown).
    unselected : numpy.ndarray of bool, shape (N,)
        Which galaxies are an unselected sample of the population.
    mode : {"none", "mask", "importance"}

    Returns
    -------
    numpy.ndarray, shape (N, 11)
    """
    if mode not in POPULATION_WEIGHTS:
        raise ValueError(f"population_weights must be one of {', '.join(POPULATION_WEIGHTS)}, "
                         f"not {mode!r}")
    weights = np.ones((len(labels), schema.N_QUESTIONS))
    if mode == "mask":
        for number in SELECTED_QUESTIONS:
            weights[~unselected, number - 1] = 0.0
    elif mode == "importance":
        for q in schema.QUESTIONS:
            outcome = question_outcomes(labels, q)
            known = outcome >= 0
            if (known & unselected).sum() < MIN_REFERENCE:
                continue
            bins = len(q.answers) + 1
            p_pop = np.bincount(outcome[known & unselected], minlength=bins) + 1.0
            p_all = np.bincount(outcome[known], minlength=bins) + 1.0
            ratio = np.minimum((p_pop / p_pop.sum()) / (p_all / p_all.sum()), IMPORTANCE_CAP)
            w = ratio[outcome[known]]
            weights[known, q.number - 1] = w / w.mean()
    return weights


def cell_weights(labels, unselected, pseudo, mode="none", pseudo_weight=1.0):
    """``float32 (N, 37)``: the loss weight of every label cell, or None where all are 1.

    Parameters
    ----------
    labels : numpy.ndarray, shape (N, 37)
        Every row's labels (the pseudo-labelled rows' too).
    unselected : numpy.ndarray of bool, shape (N,)
        Rows that are an unselected sample (:func:`population_of`).
    pseudo : numpy.ndarray of bool, shape (N,)
        Rows labelled by a teacher (:func:`galmorph.training.pseudo.pseudo_rows`).
    mode : {"none", "mask", "importance"}
        See the module docstring.
    pseudo_weight : float
        Weight of every cell of a pseudo-labelled row.

    Returns
    -------
    numpy.ndarray or None
        None where every weight is 1 (the unweighted loss is then used, unchanged).
    """
    labels = np.asarray(labels, dtype=np.float64)
    real = ~pseudo
    per_q = np.ones((len(labels), schema.N_QUESTIONS))
    per_q[real] = question_weights(labels[real], unselected[real], mode)
    per_q[pseudo] = float(pseudo_weight)
    question = np.array([schema.question_of(c).number - 1 for c in schema.KAGGLE_COLUMNS])
    weights = per_q[:, question].astype(np.float32)                     # (N, 37)
    return None if (weights == 1.0).all() else weights


def _per_source(data, mask):
    """``bool (N,)``: ``mask(folder, ids)`` applied to each source folder's rows of ``data``."""
    from galmorph.training.pseudo import row_sources

    sources = np.asarray(row_sources(data))
    ids = np.asarray(data.ids)
    out = np.zeros(len(ids), dtype=bool)
    for source in np.unique(sources):
        rows = sources == source
        out[rows] = mask(source, ids[rows])
    return out


def population_of(data):
    """``bool (N,)``: the rows of a prepared set that are an unselected sample (see
    :func:`galmorph.data.populations.unselected_mask`; other folders count as unselected)."""
    return _per_source(data, unselected_mask)


def untouched_of(data):
    """``bool (N,)``: the rows of a prepared set in the untouched split
    (:func:`galmorph.data.populations.untouched_mask`)."""
    from galmorph.data.populations import untouched_mask

    return _per_source(data, untouched_mask)


def masked_sq_error(pred, target):
    """Sum of squared errors over the known cells of ``target``, and their number: the
    loss of ``"none"`` (every known cell weighs 1).

    Parameters
    ----------
    pred : torch.Tensor, shape (B, 37)
        Predicted weighted fractions.
    target : torch.Tensor, shape (B, 37)
        Labels; NaN marks a question unknown for that galaxy (partial labels),
        whose cells add nothing to the sum nor to its gradient.

    Returns
    -------
    sum_sq, n_known : torch.Tensor
        Scalars (float32 and int64).

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([[0.5, float("nan")]])
    >>> masked_sq_error(torch.tensor([[0.0, 9.0]]), y)
    (tensor(0.2500), tensor(1))
    """
    import torch

    known = torch.isfinite(target)                                       # (B, 37)
    diff = torch.where(known, pred.float() - torch.nan_to_num(target), 0.0)
    return diff.pow(2).sum(), known.sum()


def weighted_sq_error(pred, target, weight):
    """Weighted sum of squared errors over the known cells, and the sum of their weights.

    Parameters
    ----------
    pred : torch.Tensor, shape (B, 37)
    target : torch.Tensor, shape (B, 37)
        NaN marks an unknown cell (weight 0, whatever ``weight`` says).
    weight : torch.Tensor, shape (B, 37)
        Non-negative cell weights.

    Returns
    -------
    sum_wsq, sum_w : torch.Tensor
        Scalars; the loss is ``sum_wsq / sum_w``.

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([[0.5, 0.5, float("nan")]])
    >>> weighted_sq_error(torch.zeros(1, 3), y, torch.tensor([[2.0, 0.0, 1.0]]))
    (tensor(0.5000), tensor(2.))
    """
    import torch

    known = torch.isfinite(target)                                       # (B, 37)
    w = torch.where(known, weight.float(), 0.0)
    diff = torch.where(known, pred.float() - torch.nan_to_num(target), 0.0)
    return (w * diff.pow(2)).sum(), w.sum()
