"""True morphologies of synthetic galaxies: a path down the GZ2 tree plus shape parameters.

:func:`sample_truth` draws what a synthetic galaxy *really* is. The renderer
(:mod:`galmorph.synth._render`) draws it and the vote simulator
(:mod:`galmorph.synth.votes`) lets simulated volunteers classify it.

Every question gets an answer in :attr:`Truth.answers`, also the questions the
true path never reaches: that is the answer a volunteer who strayed from the
true path would most likely give there (for example "completely round" for a
face-on disk that a volunteer mistook for a smooth galaxy).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from galmorph.schema import ANSWERS, QUESTION_SLICES, column_index

__all__ = ["Truth", "sample_truth", "answer_index", "KINDS", "ODD_FEATURES"]

#: Kinds of scene the renderer knows.
KINDS = ("smooth", "disk", "edgeon", "irregular", "star")

#: Q8 labels in Kaggle order, derived from the schema.
ODD_FEATURES = tuple(a.label for a in ANSWERS[QUESTION_SLICES[8]])


def answer_index(label):
    """``(question number, answer index within the question)`` of an answer label."""
    col = column_index(label)
    q = ANSWERS[col].question
    return q, col - QUESTION_SLICES[q].start


def _a(label):
    return answer_index(label)[1]


@dataclass
class Truth:
    """What a synthetic galaxy is.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    answers : dict
        Question number -> answer index (0-based within the question).
    odd_feature : str or None
        The Q8 label of the odd feature, or None for a normal galaxy.
    size : float
        Characteristic radius in pixels (disk scale length or effective radius).
    brightness : float
        Surface-brightness factor (1 = typical); faint galaxies are harder.
    q : float
        Apparent axis ratio of the main body (b/a).
    pa : float
        Position angle in radians.
    difficulty : float
        0 (large, bright, easy) ... 1 (small, faint); drives the vote noise.
    params : dict
        Kind-specific shape parameters for the renderer.
    """

    kind: str
    answers: dict
    odd_feature: str | None
    size: float
    brightness: float
    q: float
    pa: float
    difficulty: float
    params: dict = field(default_factory=dict)


# Odd features and how often each occurs among odd galaxies.
_FEATURE_P = {"ring": 0.16, "lens or arc": 0.12, "disturbed": 0.15, "irregular": 0.13,
              "other": 0.10, "merger": 0.21, "dust lane": 0.13}


def _roundness(q):
    """Q7 answer a volunteer reads off an apparent axis ratio."""
    if q > 0.78:
        return _a("completely round")
    return _a("in between") if q > 0.42 else _a("cigar-shaped")


def _pick_kind(rng, feature):
    if feature is None:
        return str(rng.choice(["smooth", "disk", "edgeon"], p=[0.40, 0.46, 0.14]))
    return {
        "ring": "disk", "irregular": "irregular", "lens or arc": "smooth",
        "disturbed": str(rng.choice(["disk", "smooth"], p=[0.7, 0.3])),
        "other": str(rng.choice(["smooth", "disk", "edgeon"], p=[0.4, 0.4, 0.2])),
        "merger": str(rng.choice(["smooth", "disk"], p=[0.5, 0.5])),
        "dust lane": str(rng.choice(["edgeon", "smooth"], p=[0.7, 0.3])),
    }[feature]


def _smooth(rng, ans, p, feature):
    probs = [0.40, 0.45, 0.15] if feature != "dust lane" else [0.0, 0.5, 0.5]
    if feature == "lens or arc":
        probs = [0.6, 0.4, 0.0]
    cls = int(rng.choice(3, p=probs))
    q = [rng.uniform(0.84, 1.0), rng.uniform(0.5, 0.72), rng.uniform(0.24, 0.36)][cls]
    p.update(n=rng.uniform(2.5, 4.5))
    ans.update({1: _a("smooth"), 7: cls, 2: _a("edge-on") if cls == 2 else _a("not edge-on"),
                5: _a("dominant bulge"), 9: _a("rounded bulge")})
    return q


def _edgeon(rng, ans, p, feature):
    shape = int(rng.choice(3, p=[0.45, 0.2, 0.35] if feature != "dust lane" else [0.6, 0.4, 0]))
    thick = rng.uniform(0.16, 0.24) if feature == "dust lane" else rng.uniform(0.07, 0.14)
    p.update(bulge_shape=shape, thickness=thick)
    bulge = {0: _a("obvious bulge"), 1: _a("obvious bulge"), 2: _a("no bulge")}[shape]
    ans.update({1: _a("features or disk"), 2: _a("edge-on"), 9: shape, 5: bulge,
                7: _a("cigar-shaped")})
    return p["thickness"] + (0.25 if shape < 2 else 0.0)


def _disk(rng, ans, p, feature):
    cos_i = rng.uniform(0.5, 1.0) if feature != "ring" else rng.uniform(0.7, 1.0)
    q = float(np.sqrt(cos_i ** 2 + (0.15 ** 2) * (1 - cos_i ** 2)))
    bar = bool(rng.random() < (0.28 if q > 0.6 else 0.0))
    spiral = bool(rng.random() < (0.78 if feature != "ring" else 0.35))
    bulge = int(rng.choice(4, p=[0.15, 0.38, 0.35, 0.12]))
    arms = int(rng.choice(6, p=[0.08, 0.46, 0.15, 0.10, 0.08, 0.13])) if spiral else 5
    winding = int(rng.integers(3)) if spiral else 1
    p.update(bar=bar, spiral=spiral, bulge=bulge, arms=arms, winding=winding,
             bar_angle=rng.uniform(0, np.pi))
    ans.update({1: _a("features or disk"), 2: _a("not edge-on"),
                3: _a("bar") if bar else _a("no bar"),
                4: _a("spiral") if spiral else _a("no spiral"), 5: bulge,
                9: _a("rounded bulge") if bulge >= 2 else _a("no bulge (edge-on)"),
                10: winding, 11: arms})
    return q


def _irregular(rng, ans, p):
    p.update(n_clumps=int(rng.integers(10, 26)))
    ans.update({1: _a("features or disk"), 2: _a("not edge-on"), 5: _a("no bulge"),
                9: _a("no bulge (edge-on)")})
    return rng.uniform(0.45, 0.8)


def _star(rng, ans, p):
    p.update(artifact=str(rng.choice(["star", "trail", "bleed", "ghost"],
                                     p=[0.4, 0.25, 0.2, 0.15])))
    ans.update({1: _a("star or artifact")})
    return 1.0


def sample_truth(rng):
    """Draw the true morphology of one synthetic galaxy.

    Parameters
    ----------
    rng : numpy.random.Generator
        The galaxy's own generator (see :func:`galmorph.synth.galaxy_rng`).

    Returns
    -------
    Truth
    """
    ans = {1: _a("smooth"), 2: _a("not edge-on"), 3: _a("no bar"), 4: _a("no spiral"),
           5: _a("obvious bulge"), 6: _a("not odd"), 7: _a("in between"), 8: _a("other"),
           9: _a("rounded bulge"), 10: _a("medium arms"), 11: _a("can't tell")}
    params = {}
    feature = None
    if rng.random() < 0.06:
        kind = "star"
        q = _star(rng, ans, params)
    else:
        if rng.random() < 0.22:
            names = list(_FEATURE_P)
            feature = names[int(rng.choice(len(names), p=list(_FEATURE_P.values())))]
            ans[6], ans[8] = _a("odd"), _a(feature)
        kind = _pick_kind(rng, feature)
        if kind == "smooth":
            q = _smooth(rng, ans, params, feature)
        elif kind == "edgeon":
            q = _edgeon(rng, ans, params, feature)
        elif kind == "disk":
            q = _disk(rng, ans, params, feature)
        else:
            q = _irregular(rng, ans, params)
        if kind != "edgeon" and kind != "smooth":
            ans[7] = _roundness(q)
    size = float(rng.uniform(15.0, 30.0))   # px: disk scale length / effective radius
    brightness = float(np.exp(rng.uniform(np.log(0.5), np.log(3.0))))
    # Small, faint galaxies are hard: the volunteers' answers scatter more.
    difficulty = 0.55 * (30.0 - size) / 15.0 + 0.45 * np.log(3.0 / brightness) / np.log(6.0)
    return Truth(kind=kind, answers=ans, odd_feature=feature, size=size,
                 brightness=brightness, q=float(q), pa=float(rng.uniform(0, np.pi)),
                 difficulty=float(np.clip(difficulty, 0.0, 1.0)), params=params)
