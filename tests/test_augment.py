"""Tests of galmorph.augment: batch rotation/flip augmentation and TTA views."""
import pytest
import torch

from galmorph.augment import D8_VIEWS, augment_batch, check_tta, rotate_flip, tta_views


def _smooth_batch(b=4, size=32, seed=0):
    """Smooth random images: bilinear interpolation is nearly exact on them."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(b, 3, size // 4, size // 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear",
                                           align_corners=False)


def _random_batch(b=3, size=20, seed=1):
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_rotation_by_90_matches_rot90():
    x = _random_batch()
    for k in (1, 2, 3):
        got = rotate_flip(x, torch.full((x.shape[0],), 90.0 * k))
        want = torch.rot90(x, k, dims=(-2, -1))
        # Pixel centres map onto pixel centres; only cos(90 deg) ~ 6e-17 round-off remains.
        assert torch.allclose(got, want, atol=1e-5), (k, (got - want).abs().max())


def test_rotation_is_counter_clockwise_and_not_identity():
    x = _random_batch()
    got = rotate_flip(x, 90.0)
    assert not torch.allclose(got, torch.rot90(x, -1, dims=(-2, -1)), atol=1e-3)
    assert not torch.allclose(got, x, atol=1e-3)


def test_flips_are_exact():
    # Folded into the affine matrix, a flip maps pixel centres onto pixel centres; the only
    # error left is float32 round-off in the sampling grid (~6e-6, the same as for the
    # identity), far below the 1/255 quantum of the uint8 cache.
    x = _random_batch()
    b = x.shape[0]
    yes, no = torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.bool)
    tol = dict(atol=2e-5, rtol=0)
    assert torch.allclose(rotate_flip(x, 0.0, yes, no), torch.flip(x, dims=(-1,)), **tol)
    assert torch.allclose(rotate_flip(x, 0.0, no, yes), torch.flip(x, dims=(-2,)), **tol)
    assert torch.allclose(rotate_flip(x, 0.0, yes, yes), torch.flip(x, dims=(-2, -1)), **tol)
    assert torch.allclose(rotate_flip(x, 0.0, no, no), x, **tol)
    # Quantised to uint8 the flips are bit-exact.
    q = (x * 255).round() / 255
    got = (rotate_flip(q, 0.0, yes, yes) * 255).round()
    assert torch.equal(got, (torch.flip(q, dims=(-2, -1)) * 255).round())


def test_flips_are_per_sample_and_fold_into_rotation():
    x = _random_batch(b=2)
    got = rotate_flip(x, torch.tensor([90.0, 0.0]), torch.tensor([True, False]))
    # Sample 0: flip left-right, then rotate 90 degrees; sample 1 untouched.
    want0 = torch.rot90(torch.flip(x[0], dims=(-1,)), 1, dims=(-2, -1))
    assert torch.allclose(got[0], want0, atol=1e-5)
    assert torch.allclose(got[1], x[1], atol=2e-5, rtol=0)


def test_rotation_preserves_centre_of_smooth_image():
    x = _smooth_batch()
    got = rotate_flip(x, 33.0)
    # Zero padding: corners uncovered by a 33-degree turn are black ...
    assert torch.all(got[..., 0, 0] == 0)
    # ... and rotating back restores the inscribed disc to interpolation accuracy.
    back = rotate_flip(got, -33.0)
    c = slice(10, 22)
    err = (back[..., c, c] - x[..., c, c]).abs()
    assert err.mean() < 0.01 and err.max() < 0.1, (err.mean(), err.max())
    # A wrong sign (rotating further instead of back) would not restore it.
    assert (rotate_flip(got, 33.0)[..., c, c] - x[..., c, c]).abs().mean() > 0.05


def test_augment_angles_differ_per_sample():
    # A single bright off-centre pixel shows where each sample's rotation took it.
    x = torch.zeros(16, 3, 33, 33)
    x[:, :, 16, 28] = 1.0
    out = augment_batch(x, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == x.dtype
    peaks = out[:, 0].flatten(1).argmax(dim=1)
    assert len(set(peaks.tolist())) >= 12  # 16 random angles: nearly all land apart


def test_augment_seeded_generator_is_reproducible():
    x = _random_batch(b=8)
    a = augment_batch(x, torch.Generator().manual_seed(7))
    b = augment_batch(x, torch.Generator().manual_seed(7))
    c = augment_batch(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_augment_without_generator_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    augment_batch(_random_batch())
    assert torch.equal(torch.rand(3), expected)


def test_augment_keeps_bf16_dtype():
    x = _random_batch().to(torch.bfloat16)
    assert augment_batch(x, torch.Generator().manual_seed(0)).dtype == torch.bfloat16


def test_tta_none_returns_input():
    x = _random_batch()
    views = tta_views(x, None)
    assert len(views) == 1 and views[0] is x


def test_d8_views_are_distinct_and_exact():
    x = _random_batch()
    views = tta_views(x, "d8")
    assert len(views) == 8 == len(D8_VIEWS)
    assert torch.equal(views[0], x)
    for i in range(8):
        for j in range(i + 1, 8):
            assert not torch.equal(views[i], views[j]), (i, j)
    # Each view is a permutation of the pixels: same values, exactly.
    for v in views:
        assert torch.equal(v.flatten(1).sort(dim=1).values, x.flatten(1).sort(dim=1).values)


def test_d8_mean_is_invariant_under_rotation_and_flip():
    x = _random_batch()
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.LazyLinear(5))
    torch.manual_seed(0)
    with torch.no_grad():
        def tta_mean(inp):
            return torch.stack([net(v) for v in tta_views(inp, "d8")]).mean(0)
        base = tta_mean(x)
        single = net(x)
        for moved in (torch.rot90(x, 1, dims=(-2, -1)), torch.flip(x, dims=(-1,)),
                      torch.flip(x, dims=(-2,))):
            assert torch.allclose(tta_mean(moved), base, atol=1e-5)
            # The network alone is not invariant; only the d8 mean is.
            assert not torch.allclose(net(moved), single, atol=1e-3)
    # The mean image of the d8 views is itself symmetric under every view.
    mean_img = torch.stack(tta_views(x, "d8")).mean(0)
    for v in tta_views(mean_img, "d8"):
        assert torch.allclose(v, mean_img, atol=1e-6)


def test_tta_int_rotations():
    x = _smooth_batch()
    views = tta_views(x, 4)
    assert len(views) == 4
    for k, v in enumerate(views):
        assert torch.equal(v, torch.rot90(x, k, dims=(-2, -1)))
    eight = tta_views(x, 8)
    assert len(eight) == 8
    assert torch.allclose(eight[1], rotate_flip(x, 45.0))
    assert torch.equal(eight[2], views[1])
    assert tta_views(x, "3")[1].shape == x.shape


@pytest.mark.parametrize("bad", [0, -2, "d4", 2.5, True, "rot"])
def test_bad_tta_names_the_value(bad):
    with pytest.raises(ValueError, match="tta must be None, 'd8' or a number"):
        tta_views(_random_batch(), bad)


def test_check_tta_normalises():
    assert check_tta("none") is None
    assert check_tta("D8") == "d8"
    assert check_tta("6") == 6


def test_rotate_flip_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) batch, got shape \(3, 8, 8\)"):
        rotate_flip(torch.zeros(3, 8, 8), 10.0)
