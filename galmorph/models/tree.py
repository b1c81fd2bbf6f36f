"""Differentiable GZ2 tree normalisation (torch twin of ``labels.normalize_tree_numpy``).

A network's 37 raw outputs are turned into *weighted* vote fractions that obey
the Galaxy Zoo 2 decision tree exactly (Dieleman et al. 2015, Sect. 4.6):

1. per question, make the answers non-negative and divide by their sum, giving
   conditional fractions that sum to 1 within each of the 11 questions;
2. multiply each question by its parent answer's *weighted* fraction, in tree
   order, so that e.g. Q2 sums to ``Class1.2`` and Q10 to ``Class4.1``.

Two per-question normalisations are offered (``kind``):

``"relu"`` (default, the paper's choice)
    ``max(x, 0) / sum``. Outputs can be *exactly* zero, which matches the many
    exact zeros in the GZ2 labels (an unreached question, no star/artifact
    votes) and is what an RMSE loss rewards. Where a question's outputs are all
    <= 0 (below ``eps``) the sum vanishes; the conditional fractions then fall back to the
    uniform ``1/n`` (no NaN), but that question gets no gradient until one of
    its outputs turns positive (a "dead" question).
``"softmax"``
    ``exp(x) / sum``. Never dead: every output always receives gradient, which
    makes training from scratch more forgiving, but no fraction is ever exactly
    zero and large logits are needed to approach 0 or 1. It trained slightly
    better in short runs (``benchmarks/output_heads.py``), so the
    ``resnet18-tailored`` model uses it.

Everything is derived from :mod:`galmorph.schema` (``QUESTION_SLICES``,
``PARENT_INDEX``); no column number is written here. The work is vectorised:
per-question sums use one ``index_add`` over a (37,) question index and the
parent products use one gather over a (37, depth) ancestor table, instead of
Python loops over questions: forward + backward take ~0.9 ms rather than
~1.2 ms for a batch of 256 and ~0.4 ms rather than ~1.1 ms for 32 on one CPU
thread (``benchmarks/tree_normalize.py``); either is small next to the network.

The computation always runs in float32 (float64 stays float64) with autocast
disabled: under bf16 autocast the question sums would otherwise be off by
~1e-3, too much for :func:`galmorph.labels.check_labels` with a tight tolerance.

References
----------
Dieleman S., Willett K. W., Dambre J., 2015, MNRAS 450, 1441.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from galmorph import schema

__all__ = ["TREE_KINDS", "tree_normalize", "TreeNormalize"]

#: Accepted values of ``kind``.
TREE_KINDS = ("relu", "softmax")


@functools.lru_cache(maxsize=None)
def _tables():
    """Index tables derived from the schema, built once on first use (CPU tensors).

    Returns
    -------
    question_of : LongTensor (37,)
        Question position (0..10, in Kaggle order) of each answer.
    ancestors : LongTensor (37, D)
        Column indices of every ancestor answer of each answer, padded with
        ``37`` (a column of ones appended to the conditional fractions), so that
        ``weighted[:, j] = cond[:, j] * prod(cond_ext[:, ancestors[j]])``.
    n_answers : Tensor (37,)
        Number of answers of each answer's question (for the uniform fallback).
    """
    numbers = list(schema.QUESTION_SLICES)
    question_of = torch.empty(schema.N_ANSWERS, dtype=torch.long)
    n_answers = torch.empty(schema.N_ANSWERS)
    for pos, number in enumerate(numbers):
        s = schema.QUESTION_SLICES[number]
        question_of[s] = pos
        n_answers[s] = s.stop - s.start
    # Chain of parent answers of every question, walking up to a root question.
    chains = {}
    for number in schema.TREE_ORDER:  # parents come first, so their chains exist
        parent = schema.PARENT_INDEX[number]
        if parent is None:
            chains[number] = []
        else:
            parent_q = numbers[int(question_of[parent])]
            chains[number] = [parent] + chains[parent_q]
    depth = max(1, max(len(c) for c in chains.values()))
    ancestors = torch.full((schema.N_ANSWERS, depth), schema.N_ANSWERS, dtype=torch.long)
    for number, chain in chains.items():
        s = schema.QUESTION_SLICES[number]
        if chain:
            ancestors[s, :len(chain)] = torch.tensor(chain)
    return question_of, ancestors, n_answers


@functools.lru_cache(maxsize=None)
def _tables_on(device):
    # One copy per device, so a GPU forward does not re-upload the tables. Made outside
    # inference mode even when first asked for under it (a prediction before training in one
    # process): cached inference tensors could never be saved for backward afterwards.
    with torch.inference_mode(False):
        return tuple(t.to(device) for t in _tables())


def _work_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def tree_normalize(raw, kind="relu", eps=1e-12):
    """Turn raw network outputs into tree-consistent weighted vote fractions.

    Parameters
    ----------
    raw : torch.Tensor, shape (B, 37)
        Unconstrained outputs, Kaggle column order. Any values (all zero, all
        negative, huge, infinite) give a valid tree; only NaN stays NaN, so a
        diverged network is not hidden.
    kind : {"relu", "softmax"}
        Per-question normalisation; see the module docstring for the trade-off.
    eps : float
        A question whose rectified outputs are all <= ``eps`` falls back to
        uniform conditional fractions (``"relu"`` only).

    Returns
    -------
    torch.Tensor, shape (B, 37), float32 (float64 for float64 input)
        Weighted fractions in [0, 1]; Q1 and Q6 sum to 1 and every other
        question sums to its parent answer, to float rounding (~1e-6).

    Examples
    --------
    >>> import torch
    >>> from galmorph.labels import check_labels
    >>> out = tree_normalize(torch.randn(4, 37))
    >>> bool(check_labels(out.numpy(), atol=1e-5))
    True
    """
    if kind not in TREE_KINDS:
        raise ValueError(f"kind must be one of {TREE_KINDS}, not {kind!r}")
    if raw.ndim != 2 or raw.shape[1] != schema.N_ANSWERS:
        raise ValueError(f"expected raw outputs of shape (B, {schema.N_ANSWERS}), "
                         f"got {tuple(raw.shape)}")
    question_of, ancestors, n_answers = _tables_on(raw.device)
    n_questions = schema.N_QUESTIONS
    with torch.autocast(raw.device.type, enabled=False):
        x = raw.to(_work_dtype(raw.dtype))  # (B, 37)
        big = torch.finfo(x.dtype).max
        x = x.clamp(-big, big)  # +-inf -> largest finite; NaN stays NaN (divergence shows)
        if kind == "relu":
            x = torch.relu(x)
        # Each question's largest value; dividing by it (a constant for the
        # gradient, since the ratios do not depend on it) keeps the sums finite
        # even for outputs near the float maximum.
        qmax = x.new_full((x.shape[0], n_questions), -torch.inf)
        qmax = qmax.scatter_reduce(1, question_of.expand_as(x), x, "amax").detach()  # (B, 11)
        if kind == "softmax":
            x = torch.exp(x - qmax[:, question_of])  # each question's max -> 1
            alive = torch.ones_like(x, dtype=torch.bool)
        else:
            # (B, 37); False where all answers <= eps. Written as "not <=" so NaN stays alive.
            alive = ~(qmax <= eps)[:, question_of]
            x = x / torch.where(alive, qmax[:, question_of], torch.ones_like(x))
        sums = x.new_zeros(x.shape[0], n_questions).index_add(1, question_of, x)  # (B, 11)
        total = sums[:, question_of]  # (B, 37), in [1, n] where alive
        cond = torch.where(alive, x / torch.where(alive, total, torch.ones_like(total)),
                           1.0 / n_answers.to(x.dtype))  # (B, 37)
        ones = cond.new_ones(cond.shape[0], 1)
        cond_ext = torch.cat([cond, ones], dim=1)  # (B, 38)
        weight = cond_ext[:, ancestors].prod(dim=-1)  # (B, 37, D) -> (B, 37)
        return cond * weight


class TreeNormalize(nn.Module):
    """:func:`tree_normalize` as a layer (no parameters).

    Parameters
    ----------
    kind : {"relu", "softmax"}
    eps : float
    """

    def __init__(self, kind="relu", eps=1e-12):
        super().__init__()
        if kind not in TREE_KINDS:
            raise ValueError(f"kind must be one of {TREE_KINDS}, not {kind!r}")
        self.kind = kind
        self.eps = eps

    def forward(self, raw):  # (B, 37) -> (B, 37)
        return tree_normalize(raw, kind=self.kind, eps=self.eps)

    def extra_repr(self):
        return f"kind={self.kind!r}, eps={self.eps:g}"
