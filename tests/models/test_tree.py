import numpy as np
import pytest
import torch

from galmorph import schema
from galmorph.labels import check_labels, conditional_to_weighted, normalize_tree_numpy
from galmorph.models.tree import TreeNormalize, tree_normalize

KINDS = ("relu", "softmax")
TIGHT = 1e-5  # float32 rounding over a product of up to 4 fractions


def _raw(seed=0, n=512, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, schema.N_ANSWERS, generator=g) * scale


def _assert_tree(out, atol=TIGHT):
    check = check_labels(out.detach().double().numpy(), atol=atol)
    assert check.ok, check.summary()


@pytest.mark.parametrize("kind", KINDS)
def test_random_logits_give_a_valid_tree(kind):
    out = tree_normalize(_raw(), kind=kind)
    assert out.shape == (512, 37) and out.dtype == torch.float32
    _assert_tree(out)
    # Not trivially uniform: the outputs depend on the input.
    assert out.std(dim=0).min() > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fill", [0.0, -1.0, -1e30, 1e30])
def test_constant_outputs_fall_back_to_uniform(kind, fill):
    out = tree_normalize(torch.full((3, 37), fill), kind=kind)
    assert torch.isfinite(out).all()
    _assert_tree(out)
    q1 = schema.QUESTION_SLICES[1]
    # Uniform conditional fractions: each answer of Q1 gets 1/3.
    torch.testing.assert_close(out[:, q1], torch.full((3, 3), 1 / 3))


@pytest.mark.parametrize("kind", KINDS)
def test_large_values_stay_finite_and_valid(kind):
    raw = _raw(1, n=64, scale=1e6)
    raw[0] = torch.finfo(torch.float32).max / 4
    raw[1, :5] = torch.inf
    raw[2, ::2] = -torch.inf
    out = tree_normalize(raw, kind=kind)
    assert torch.isfinite(out).all()
    _assert_tree(out)


def test_nan_is_not_hidden():
    raw = torch.zeros(2, 37)
    raw[0, 0] = torch.nan
    out = tree_normalize(raw)
    assert torch.isnan(out[0]).any() and torch.isfinite(out[1]).all()


def test_relu_variant_matches_numpy_twin():
    raw = _raw(2, n=300).double()
    raw[::5] = 0.0
    raw[1::5] = -2.0
    raw[2::5, schema.QUESTION_SLICES[8]] = -1.0  # one dead question, others alive
    ours = tree_normalize(raw, kind="relu").numpy()
    twin = normalize_tree_numpy(raw.numpy())
    np.testing.assert_allclose(ours, twin, rtol=0, atol=1e-12)
    _assert_tree(torch.from_numpy(ours), atol=1e-12)


def test_softmax_variant_is_a_per_question_softmax_times_parents():
    raw = _raw(3, n=8).double()
    cond = torch.cat([torch.softmax(raw[:, s], dim=1) for s in schema.QUESTION_SLICES.values()],
                     dim=1)
    expected = conditional_to_weighted(cond.numpy())
    np.testing.assert_allclose(tree_normalize(raw, kind="softmax").numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_are_finite(kind):
    raw = _raw(4, n=32)
    raw[0] = 0.0  # uniform fallback row
    raw[1] = -3.0
    raw[2, :5] = 1e-13  # sum barely above / below eps
    raw = raw.requires_grad_()
    target = torch.rand(32, 37, generator=torch.Generator().manual_seed(5))
    loss = ((tree_normalize(raw, kind=kind) - target) ** 2).mean()
    loss.backward()
    assert torch.isfinite(raw.grad).all()
    assert raw.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences(kind):
    g = torch.Generator().manual_seed(8)
    raw = torch.randn(3, 37, generator=g, dtype=torch.float64)
    raw = raw + 0.2 * raw.sign()  # keep away from the ReLU kink at 0
    raw[0, schema.QUESTION_SLICES[6]] = -1.0  # one dead question (uniform fallback)
    assert torch.autograd.gradcheck(lambda r: tree_normalize(r, kind=kind),
                                    (raw.requires_grad_(),))


def test_double_input_stays_double_and_parents_multiply_down():
    raw = _raw(6, n=4).double()
    out = tree_normalize(raw)
    assert out.dtype == torch.float64
    c = schema.column_index
    # Q10 sums to Class4.1 <= Class2.2 <= Class1.2
    q10 = out[:, schema.QUESTION_SLICES[10]].sum(1)
    torch.testing.assert_close(q10, out[:, c("Class4.1")])
    assert (out[:, c("Class4.1")] <= out[:, c("Class2.2")] + 1e-12).all()
    assert (out[:, c("Class2.2")] <= out[:, c("Class1.2")] + 1e-12).all()


def test_bf16_autocast_input_still_gives_a_tight_tree():
    raw = _raw(7, n=64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = TreeNormalize("relu")(raw.bfloat16())
    assert out.dtype == torch.float32
    _assert_tree(out)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        tree_normalize(torch.zeros(2, 37), kind="sigmoid")
    with pytest.raises(ValueError, match=r"shape \(B, 37\), got \(2, 36\)"):
        tree_normalize(torch.zeros(2, 36))
    with pytest.raises(ValueError, match="kind must be one of"):
        TreeNormalize("tanh")


def test_training_after_a_prediction_in_the_same_process(monkeypatch):
    """The cached index tables must not be inference tensors, even when first built under
    torch.inference_mode() (predict_arrays): a later backward pass would fail."""
    from galmorph.models import tree

    tree._tables.cache_clear()
    tree._tables_on.cache_clear()           # as in a fresh process
    with torch.inference_mode():
        tree_normalize(torch.randn(2, 37), kind="softmax")
    raw = torch.randn(3, 37, dtype=torch.float64, requires_grad=True)
    tree_normalize(raw, kind="softmax").sum().backward()
    assert raw.grad is not None and torch.isfinite(raw.grad).all()
