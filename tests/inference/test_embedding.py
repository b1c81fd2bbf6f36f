"""Embeddings from the inference loop: unit rows, one per image, from any galmorph network."""
import numpy as np
import pytest
import torch

from galmorph.errors import CheckpointError
from galmorph.inference.embedding import embed_arrays, normalize
from galmorph.models import build_model


def test_normalize_gives_unit_rows_and_keeps_zero_rows():
    unit, norm = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]), return_norm=True)
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(norm, [5.0, 0.0])
    assert unit.dtype == np.float32
    with pytest.raises(ValueError, match=r"must be \(N, D\)"):
        normalize(np.zeros(3))


def test_embed_arrays_of_an_ensemble_concatenates_its_members(one_thread):
    from galmorph.models.ensemble import ensemble_of

    torch.manual_seed(0)
    member = build_model("cnn", channels=(4, 4, 4), hidden=8, input_size=32)
    x = np.random.default_rng(0).integers(0, 255, (3, 3, 32, 32), dtype=np.uint8)
    one = embed_arrays(member, x, device="cpu", precision="fp32")
    two = embed_arrays(ensemble_of([member, member]), x, device="cpu", precision="fp32")
    assert two.shape == (3, 2 * one.shape[1]) and two.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(two, axis=1), 1.0, rtol=1e-5)
    # Two equal members: each half is the member's direction, scaled by 1/sqrt(2).
    np.testing.assert_allclose(two[:, :one.shape[1]] * np.sqrt(2), one, atol=1e-5)


def test_d8_views_make_a_quarter_turn_invisible(one_thread):
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=8, input_size=32)
    x = np.random.default_rng(1).integers(0, 255, (2, 3, 32, 32), dtype=np.uint8)
    turned = np.ascontiguousarray(np.flip(np.rot90(x, 1, axes=(2, 3)), axis=3))
    a = embed_arrays(model, x, device="cpu", precision="fp32", tta="d8")
    b = embed_arrays(model, turned, device="cpu", precision="fp32", tta="d8")
    np.testing.assert_allclose(a, b, atol=1e-5)
    plain = embed_arrays(model, turned, device="cpu", precision="fp32")
    assert np.abs(plain - a).max() > 1e-3   # without the views, it is not invisible


def test_a_foreign_module_has_no_embedding():
    class Foreign(torch.nn.Module):
        def forward(self, x):
            return torch.full((len(x), 37), 0.5)

    with pytest.raises(CheckpointError, match=r"\(Foreign\) gives no pooled features"):
        embed_arrays(Foreign(), np.zeros((1, 3, 8, 8), np.uint8), device="cpu")
