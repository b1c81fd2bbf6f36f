"""Synthetic GZ2-like galaxies: galmorph's embedded default data set.

- :mod:`~galmorph.synth.truth`    draws each galaxy's true path down the GZ2 tree;
- ``_profiles``, ``_features``, ``_render`` (plumbing): Sersic, exponential and PSF
  building blocks; bars, arms, rings, lenses, dust lanes, mergers, stars; and the
  424 x 424 gri-like image they make together;
- :mod:`~galmorph.synth.votes`    simulated volunteers -> Kaggle weighted fractions;
- :mod:`~galmorph.synth.dataset`  writes the Kaggle layout (``galmorph synth``).
"""
from galmorph.synth.dataset import (FIRST_ID, IMAGE_DIR, JPEG_QUALITY, LABEL_FILE, MAX_N,
                                    format_fraction, galaxy_ids, galaxy_rng, make_synthetic,
                                    synth_galaxy, synth_labels)

__all__ = ["make_synthetic", "synth_galaxy", "synth_labels", "galaxy_rng", "galaxy_ids",
           "format_fraction", "IMAGE_DIR", "LABEL_FILE", "JPEG_QUALITY", "FIRST_ID", "MAX_N"]
