"""Simulated Galaxy Zoo volunteers: votes down the tree -> Kaggle weighted fractions.

Each synthetic galaxy is classified by 20-60 simulated volunteers. At every
question a volunteer reaches, they give the true answer with a probability
that falls as the galaxy gets smaller and fainter
(:attr:`~galmorph.synth.truth.Truth.difficulty`), and otherwise a
*neighbouring* answer: smooth <-> features, adjacent bulge classes, adjacent
arm counts or "can't tell", and so on. Galaxy-to-galaxy ambiguity beyond the
binomial noise comes from a Dirichlet draw around those probabilities.

Because volunteers answer independently, the number choosing each answer of a
question is one multinomial draw among the volunteers who reached it (the
count of the parent answer). The per-question shares are then turned into
the Kaggle weighted fractions with
:func:`galmorph.labels.conditional_to_weighted`, so every question sums to
its parent answer (and Q1 and Q6 to 1) up to floating-point rounding.
"""
from __future__ import annotations

import numpy as np

from galmorph.labels import conditional_to_weighted
from galmorph.schema import N_ANSWERS, PARENT_INDEX, QUESTION_SLICES, QUESTIONS, TREE_ORDER
from galmorph.synth.truth import answer_index

__all__ = ["simulate_votes", "answer_probabilities", "VOTERS"]

#: Range of the number of volunteers per galaxy (inclusive).
VOTERS = (20, 60)

# Questions whose answers are ordered, so that mistakes go to a neighbour.
_ORDINAL = {5, 7, 10}
# (accuracy for a clear galaxy, loss of accuracy at difficulty 1)
_ACCURACY = {1: (0.93, 0.30), 2: (0.93, 0.20), 3: (0.88, 0.25), 4: (0.86, 0.25),
             5: (0.64, 0.15), 6: (0.80, 0.10), 7: (0.80, 0.20), 8: (0.74, 0.20),
             9: (0.80, 0.20), 10: (0.66, 0.20), 11: (0.70, 0.25)}
# Per-galaxy Dirichlet concentration: lower = more galaxy-to-galaxy scatter.
_KAPPA = 50.0


def _idx(label):
    return answer_index(label)[1]


def _wrong_weights(q, t, k):
    """Relative weights of the wrong answers of question ``q`` (true answer ``t``)."""
    j = np.arange(k)
    if q in _ORDINAL:
        w = np.exp(-1.3 * np.abs(j - t).astype(float))
    elif q == 11:
        # Arm counts: neighbours and "can't tell" absorb most mistakes.
        cant = _idx("can't tell")
        if t == cant:       # those who dare a count mostly say two
            w = np.where(j == _idx("2 arms"), 3.0, 1.0)
        else:
            w = np.exp(-1.3 * np.abs(j - t).astype(float))
            w[cant] = 2.0
    elif q == 1:
        w = np.ones(k)
        w[_idx("star or artifact")] = 0.06   # few mistake a galaxy for a star
    elif q == 8:
        w = np.ones(k)
        w[_idx("other")] = 2.5
    else:
        w = np.ones(k)
    w[t] = 0.0
    return w / w.sum()


def _accuracy(q, t, truth, on_path):
    acc, slope = _ACCURACY[q]
    acc -= slope * truth.difficulty
    if q == 1 and truth.kind == "disk" and not (truth.params.get("spiral")
                                                or truth.params.get("bar")):
        acc -= 0.18       # a featureless disk looks smooth to many
    if q == 6 and t == _idx("not odd"):
        acc = 0.90 - 0.06 * truth.difficulty   # the odd "yes" for a normal galaxy
    if not on_path:
        acc -= 0.15       # these volunteers already went astray
    return float(np.clip(acc, 0.3, 0.97))


def _on_path(truth):
    """Questions the true path through the tree reaches."""
    a = truth.answers
    reached = {1, 6}
    if a[1] == _idx("smooth"):
        reached.add(7)
    elif a[1] == _idx("features or disk"):
        reached.add(2)
        if a[2] == _idx("edge-on"):
            reached.add(9)
        else:
            reached |= {3, 4, 5}
            if a[4] == _idx("spiral"):
                reached |= {10, 11}
    if a[6] == _idx("odd"):
        reached.add(8)
    return reached


def answer_probabilities(truth):
    """Per-question answer probabilities of a typical volunteer.

    Parameters
    ----------
    truth : galmorph.synth.truth.Truth

    Returns
    -------
    dict
        Question number -> probabilities over its answers (sums to 1).
    """
    reached = _on_path(truth)
    out = {}
    for q in QUESTIONS:
        k = len(q.answers)
        t = truth.answers[q.number]
        acc = _accuracy(q.number, t, truth, q.number in reached)
        p = (1.0 - acc) * _wrong_weights(q.number, t, k)
        p[t] = acc
        out[q.number] = p
    return out


def simulate_votes(truth, rng, n_voters=None):
    """Simulate volunteers classifying one galaxy.

    Parameters
    ----------
    truth : galmorph.synth.truth.Truth
    rng : numpy.random.Generator
    n_voters : int, optional
        Number of volunteers; drawn from :data:`VOTERS` when None.

    Returns
    -------
    numpy.ndarray, shape (37,)
        Kaggle weighted fractions (float64), satisfying the tree exactly up
        to floating-point rounding.
    """
    if n_voters is None:
        n_voters = int(rng.integers(VOTERS[0], VOTERS[1] + 1))
    probs = answer_probabilities(truth)
    counts = np.zeros(N_ANSWERS)
    cond = np.zeros(N_ANSWERS)
    for number in TREE_ORDER:
        s = QUESTION_SLICES[number]
        parent = PARENT_INDEX[number]
        n_reach = n_voters if parent is None else int(counts[parent])
        # Every galaxy is ambiguous in its own way: Dirichlet around the typical voter.
        p = rng.dirichlet(_KAPPA * probs[number] + 0.02)
        if n_reach == 0:
            continue
        c = rng.multinomial(n_reach, p)
        counts[s] = c
        cond[s] = c / n_reach
    return conditional_to_weighted(cond[None, :])[0]
