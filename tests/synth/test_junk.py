"""The junk images of galmorph.synth.junk: each kind is what its name says."""
import numpy as np
import pytest

from galmorph.synth.junk import JUNK_KINDS, NEEDS_GALAXY, junk_image


@pytest.fixture(scope="module")
def galaxy():
    from galmorph.data.examples import EXAMPLES_DIR
    from galmorph.data.images import load_image

    return load_image(sorted(EXAMPLES_DIR.glob("*.jpg"))[0])


@pytest.mark.parametrize("kind", JUNK_KINDS)
def test_every_kind_is_a_424_rgb_image(kind, galaxy):
    image = junk_image(kind, galaxy if kind in NEEDS_GALAXY else None, seed=1)
    assert image.shape == (424, 424, 3) and image.dtype == np.uint8


def test_what_each_kind_is(galaxy):
    assert junk_image("black").max() == 0 and junk_image("white").min() == 255
    noise = junk_image("uniform_noise", seed=0).astype(float)
    assert noise.std() > 60
    shrunk = junk_image("shrunk_4x", galaxy)
    assert shrunk[:150].max() == 0 and shrunk[160:260, 160:260].max() > 0
    shifted = junk_image("shifted_120px", galaxy, seed=0)
    lum = shifted.mean(2)
    y, x = np.unravel_index(np.argmax(lum), lum.shape)
    assert np.hypot(y - 212, x - 212) > 80       # the galaxy's core moved off the centre
    assert (junk_image("saturated_8x", galaxy) == 255).sum() > 20 * (galaxy == 255).sum() + 500


def test_kinds_from_a_galaxy_need_one():
    with pytest.raises(ValueError, match="needs a real 424 x 424 x 3 galaxy"):
        junk_image("shrunk_4x")
    with pytest.raises(ValueError, match="unknown junk kind"):
        junk_image("blurry")
