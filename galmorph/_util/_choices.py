"""Names the command line offers as choices, importable without torch or astropy (so that
``galmorph --help`` stays quick); each is checked against by the module that uses it."""

__all__ = ["CUTOUT_BACKENDS", "EVALUATION_SPLITS"]

#: The SDSS cutout services of :mod:`galmorph.astro.cutouts` (``BACKENDS`` maps each to
#: its fetcher).
CUTOUT_BACKENDS = ("hips2fits", "sdss")
#: What :func:`galmorph.inference.evaluation.evaluate` scores when not given galaxy IDs.
EVALUATION_SPLITS = ("validation", "all")
