"""Tests of galmorph.inference.engine.predict_arrays (the one inference loop)."""
import numpy as np
import pytest
import torch
from torch import nn

from galmorph.errors import DataError
from galmorph.schema import N_ANSWERS
from galmorph.inference.engine import predict_arrays

SIZE = 8


class LinearProbe(nn.Module):
    """Not rotation-invariant: a linear map of the flattened pixels, unbounded output.

    Records the batch sizes it sees, so the tests can check the streaming.
    """

    def __init__(self, seed=0, size=SIZE):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(3 * size * size, N_ANSWERS, generator=g) * 0.05)
        self.bias = nn.Parameter(torch.full((N_ANSWERS,), 0.2))
        self.batches = []

    def forward(self, x):
        self.batches.append(tuple(x.shape))
        return x.flatten(1) @ self.weight + self.bias          # (B, 37)


def _images(n=10, seed=0, size=SIZE):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)


def _reference(model, images):
    # Written independently of the loop under test: float64, one batch, no autocast.
    x = torch.from_numpy(images).double() / 255.0
    with torch.no_grad():
        y = x.flatten(1) @ model.weight.double() + model.bias.double()
    return y.clamp(0, 1).numpy()


def test_matches_reference_and_clips():
    model = LinearProbe()
    images = _images()
    out = predict_arrays(model, images, device="cpu", precision="fp32")
    assert out.dtype == np.float32 and out.shape == (10, N_ANSWERS)
    ref = _reference(model, images)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # The probe's raw outputs leave [0, 1] on both sides; the loop clips them.
    raw = (torch.from_numpy(images).double() / 255).flatten(1) @ model.weight.double() + 0.2
    assert raw.min() < 0 and raw.max() > 1
    assert out.min() == 0.0 and out.max() == 1.0


def test_streams_in_batches_from_a_memmap(tmp_path):
    images = _images(n=23)
    path = tmp_path / "images.u8"
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=images.shape)
    mm[:] = images
    mm.flush()
    mm = np.memmap(path, dtype=np.uint8, mode="r", shape=images.shape)
    model = LinearProbe()
    out = predict_arrays(model, mm, batch_size=5, device="cpu", precision="fp32")
    # Never more than one batch converted at a time: 5+5+5+5+3.
    assert [b[0] for b in model.batches] == [5, 5, 5, 5, 3]
    np.testing.assert_allclose(out, _reference(model, images), atol=1e-5)


def test_tta_d8_is_the_average_over_the_eight_symmetries():
    model = LinearProbe(seed=1)
    images = _images(n=6, seed=1)
    out = predict_arrays(model, images, tta="d8", device="cpu", precision="fp32")
    x = torch.from_numpy(images).double() / 255.0
    manual = []
    for flip in (False, True):
        for k in range(4):
            v = torch.rot90(x, k, dims=(2, 3))
            if flip:
                v = torch.flip(v, dims=(3,))
            with torch.no_grad():
                manual.append(v.flatten(1) @ model.weight.double() + model.bias.double())
    expected = torch.stack(manual).mean(0).clamp(0, 1).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # And it really differs from no TTA for this non-invariant model.
    plain = predict_arrays(model, images, device="cpu", precision="fp32")
    assert np.abs(plain - out).max() > 1e-3
    # 8 views per batch went through the model (plus the plain pass: 1 more).
    assert len(model.batches) == 9


def test_tta_rotations_count():
    model = LinearProbe(seed=2)
    images = _images(n=4, seed=2)
    out = predict_arrays(model, images, tta=4, device="cpu", precision="fp32")
    x = torch.from_numpy(images).double() / 255.0
    with torch.no_grad():
        manual = torch.stack([torch.rot90(x, k, dims=(2, 3)).flatten(1) @ model.weight.double()
                              + model.bias.double() for k in range(4)]).mean(0)
    np.testing.assert_allclose(out, manual.clamp(0, 1).numpy(), atol=1e-5)


def test_bf16_close_to_fp32():
    model = LinearProbe(seed=3)
    images = _images(n=8, seed=3)
    ref = predict_arrays(model, images, device="cpu", precision="fp32")
    low = predict_arrays(model, images, device="cpu", precision="bf16")
    assert low.dtype == np.float32
    np.testing.assert_allclose(low, ref, atol=0.05)


def test_accepts_a_checkpoint_like_object_and_empty_input():
    model = LinearProbe()

    class Holder:
        pass

    holder = Holder()
    holder.model = model
    images = _images(n=3)
    np.testing.assert_allclose(predict_arrays(holder, images, device="cpu", precision="fp32"),
                               _reference(model, images), atol=1e-5)
    empty = predict_arrays(model, images[:0], device="cpu")
    assert empty.shape == (0, N_ANSWERS) and empty.dtype == np.float32


def test_puts_model_in_eval_mode():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(3 * SIZE * SIZE, N_ANSWERS))
    model.train()
    images = _images(n=4)
    a = predict_arrays(model, images, device="cpu", precision="fp32")
    b = predict_arrays(model, images, device="cpu", precision="fp32")
    assert not model.training
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((2, 3, SIZE, SIZE), dtype=np.float32), ["dtype float32", "uint8"]),
    (np.zeros((2, SIZE, SIZE, 3), dtype=np.uint8), ["shape (2, 8, 8, 3)", "(N, 3, H, W)"]),
    (np.zeros((3, SIZE, SIZE), dtype=np.uint8), ["shape (3, 8, 8)"]),
    ([[1, 2, 3]], ["list"]),
])
def test_bad_images_are_named(bad, words):
    with pytest.raises(DataError) as info:
        predict_arrays(LinearProbe(), bad, device="cpu")
    for w in words:
        assert w in str(info.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="tta must be"):
        predict_arrays(LinearProbe(), _images(n=2), tta="d4", device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        predict_arrays(LinearProbe(), _images(n=2), batch_size=0, device="cpu")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        predict_arrays(object(), _images(n=2), device="cpu")
