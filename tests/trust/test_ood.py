"""ood_score / is_ood (galmorph.trust.ood) on simple images, without a model."""
import numpy as np
import pytest

from galmorph.trust import OODCalibration, fit_ood, image_statistics, score_ood


def _blobs(n, seed, *, shift=0.0, sigma=(6, 12), amp=(0.3, 0.8), size=80):
    """Centred Gaussian galaxies on a noisy sky, as (n, 3, size, size) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    out = []
    for _ in range(n):
        s, a = rng.uniform(*sigma), rng.uniform(*amp)
        img = 0.05 + a * np.exp(-((xx - shift) ** 2 + yy ** 2) / (2 * s * s))
        img = img + rng.normal(0, 0.01, img.shape)
        out.append(np.repeat(img[None], 3, 0))
    return (np.clip(np.stack(out), 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def calibration():
    return fit_ood(_blobs(600, 0), reference=(_blobs(600, 1), None, None))


def test_threshold_flags_the_target_share_of_like_images(calibration):
    score, _ = score_ood(calibration, _blobs(2000, 2))
    assert 0.005 < np.mean(score > calibration.threshold) < 0.05


@pytest.mark.parametrize("kind, reasons", [
    ("blank", {"contrast"}), ("noise", {"roughness", "saturated"}),
    ("off_centre", {"offset", "centre"}), ("small", {"radius", "roughness"}),
    ("saturated", {"saturated"})])
def test_junk_is_flagged_with_its_reason(calibration, kind, reasons):
    rng = np.random.default_rng(3)
    if kind == "blank":
        x = np.full((5, 3, 80, 80), 40, np.uint8)
    elif kind == "noise":
        x = rng.integers(0, 256, (5, 3, 80, 80)).astype(np.uint8)
    elif kind == "off_centre":
        x = _blobs(5, 4, shift=30)
    elif kind == "small":
        x = _blobs(5, 5, sigma=(1.0, 1.5))
    else:
        x = np.clip(_blobs(5, 6).astype(int) * 8, 0, 255).astype(np.uint8)
    score, why = score_ood(calibration, x)
    assert (score > calibration.threshold).all()
    assert set(why) <= reasons


def test_statistics_and_round_trip(calibration):
    stats = image_statistics(_blobs(3, 7))
    assert set(stats) >= {"contrast", "saturated", "roughness", "offset", "radius", "centre",
                          "sky_noise"}
    assert all(v.shape == (3,) for v in stats.values())
    again = OODCalibration.from_dict(calibration.to_dict())
    x = _blobs(20, 8)
    np.testing.assert_allclose(score_ood(again, x)[0], score_ood(calibration, x)[0], rtol=1e-5)


def test_feature_distance_flags_features_far_from_training():
    rng = np.random.default_rng(9)
    images = _blobs(400, 10)
    features = rng.normal(0, 1, (400, 16))
    cal = fit_ood(images, features, reference=(images, features, None), n_components=8)
    far = rng.normal(0, 1, (5, 16)) + 12
    score, why = score_ood(cal, images[:5], far)
    assert (score > cal.threshold).all() and (why == "feature_distance").all()
