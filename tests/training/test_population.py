"""Tests of galmorph.training.population: the training loss and its population weights."""
import numpy as np
import pandas as pd
import pytest
import torch

from galmorph import schema
from galmorph.data.populations import unselected_mask
from galmorph.training.config import TrainConfig
from galmorph.training.population import (SELECTED_QUESTIONS, cell_weights, masked_sq_error,
                                          question_outcomes, question_weights, weighted_sq_error)


@pytest.fixture(scope="module")
def real(kaggle_5k):
    """(ids, labels (N, 37), unselected) of the real gz-kaggle-5k labels."""
    frame = pd.read_csv(kaggle_5k / schema.KAGGLE_LABEL_FILE)
    ids = frame[schema.ID_COLUMN].to_numpy()
    labels = frame[list(schema.KAGGLE_COLUMNS)].to_numpy(np.float64)
    return ids, labels, unselected_mask("gz-kaggle-5k", ids)


def _column_question():
    return np.array([schema.question_of(c).number for c in schema.KAGGLE_COLUMNS])


def test_weights_change_the_gradient_as_specified():
    """The gradient of the weighted loss of a linear model is the hand-derived
    d/dW [sum(w * (xW - y)^2) / sum(w * known)] = 2 x^T (w * (xW - y)) / sum(w * known)."""
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(6, 5)))
    y = torch.tensor(rng.uniform(size=(6, 37)))
    y[2, 3:5] = float("nan")                                # an unknown question
    w = torch.tensor(rng.uniform(0, 3, size=(6, 37)))
    w[1] = 0.0                                              # a row that counts for nothing
    W = torch.tensor(rng.normal(size=(5, 37)), requires_grad=True)
    wsq, w_sum = weighted_sq_error(x @ W, y, w)
    (wsq / w_sum).backward()
    known = torch.isfinite(y)
    w_known = torch.where(known, w, 0.0).double()
    residual = torch.where(known, (x @ W).detach() - torch.nan_to_num(y), 0.0)
    expected = 2 * x.T @ (w_known * residual) / w_known.sum()
    assert torch.allclose(W.grad, expected, rtol=1e-5, atol=1e-6)
    # ... and differs from the unweighted gradient (the weights do something).
    plain = 2 * x.T @ torch.where(known, residual, 0.0) / known.sum()
    assert not torch.allclose(W.grad, plain, rtol=1e-2)


def test_zero_weight_removes_a_cells_contribution_exactly():
    torch.manual_seed(0)
    pred = torch.rand(4, 37, requires_grad=True)
    y, w = torch.rand(4, 37), torch.rand(4, 37) + 0.1
    w[1, 7] = 0.0
    grads = []
    for target in (0.0, 1.0):                               # whatever the masked label says
        y[1, 7] = target
        pred.grad = None
        wsq, w_sum = weighted_sq_error(pred, y, w)
        (wsq / w_sum).backward()
        grads.append((wsq.item(), pred.grad.clone()))
    assert grads[0][0] == grads[1][0] and torch.equal(grads[0][1], grads[1][1])
    assert grads[0][1][1, 7] == 0.0


def test_mask_keeps_confident_galaxies_from_the_selected_questions(real):
    ids, labels, unselected = real
    pseudo = np.zeros(len(ids), bool)
    w = cell_weights(labels, unselected, pseudo, "mask")                 # (N, 37)
    selected = np.isin(_column_question(), SELECTED_QUESTIONS)
    assert (w[~unselected][:, selected] == 0).all() and (w[~unselected][:, ~selected] == 1).all()
    assert (w[unselected] == 1).all()
    assert selected[schema.column_index("Class4.1")] and not selected[
        schema.column_index("Class3.1")]


def test_importance_weights_give_the_unselected_mix_of_spirals(real):
    """Q4 ("spiral?") outcomes weighted over all labelled galaxies match the unselected
    galaxies' own mix (within the add-one smoothing), where unweighted they do not."""
    ids, labels, unselected = real
    qw = question_weights(labels, unselected, "importance")             # (N, 11)
    outcome = question_outcomes(labels, schema.QUESTIONS[3])
    bins = len(schema.QUESTIONS[3].answers) + 1
    target = np.bincount(outcome[unselected], minlength=bins) / unselected.sum()
    weighted = np.bincount(outcome, weights=qw[:, 3], minlength=bins) / qw[:, 3].sum()
    raw = np.bincount(outcome, minlength=bins) / len(outcome)
    assert np.abs(weighted - target).max() < 0.01 < np.abs(raw - target).max()
    assert qw.mean(axis=0) == pytest.approx(1.0)


def test_pseudo_rows_weigh_pseudo_weight_and_all_ones_is_none(real):
    ids, labels, unselected = real
    pseudo = np.zeros(len(ids), bool)
    assert cell_weights(labels, unselected, pseudo, "none") is None
    pseudo[:10] = True
    w = cell_weights(labels, unselected, pseudo, "none", pseudo_weight=0.25)
    assert (w[:10] == 0.25).all() and (w[10:] == 1).all()


def test_config_refuses_an_unknown_mode_and_a_negative_weight():
    with pytest.raises(ValueError, match="population_weights must be one of none, mask"):
        TrainConfig(population_weights="balanced")
    with pytest.raises(ValueError, match="pseudo_weight must be >= 0"):
        TrainConfig(pseudo_weight=-1)


def test_masked_cell_changes_neither_loss_nor_gradient():
    torch.manual_seed(0)
    pred = torch.rand(4, 37, requires_grad=True)
    target = torch.rand(4, 37)
    target[1, 5:7] = float("nan")                      # Q3 unknown for galaxy 1
    grads = []
    for fill in (0.0, 0.9):                            # what the unknown cells would hold
        p = pred.detach().clone().requires_grad_(True)
        y = target.clone()
        sq, n = masked_sq_error(p, y)
        (sq / n).backward()
        grads.append((sq.item(), n.item(), p.grad.clone()))
        p2 = pred.detach().clone()
        p2[1, 5:7] = fill                              # another prediction there: no effect
        assert masked_sq_error(p2, y)[0].item() == pytest.approx(sq.item())
    assert grads[0][1] == 4 * 37 - 2
    assert (grads[0][2][1, 5:7] == 0).all() and (grads[0][2][0] != 0).all()
    known = torch.isfinite(target)
    expected = ((pred.detach() - target)[known] ** 2).sum().item()
    assert grads[0][0] == pytest.approx(expected, rel=1e-6)
