"""
4. Mergers and the angular-separation bias
==========================================

The merger vote of GZ2 (``Class8.6``, "is the odd feature ... a merger?") is
the classifier's ``p_merger``; ``is_merger`` is ``p_merger >= 0.54``, the
paper's threshold. A second galaxy or a star near the target raises that vote
whether or not the two interact, so part of any merger sample is chance
projections. This page measures the effect on the 24 bundled galaxies (three
of them GZ2 mergers); everything ran when the docs were built. Twenty-four
galaxies make wide intervals: the point is how to read the numbers.
"""

# %%
# Classify, measuring the nearest neighbour
# -----------------------------------------
# ``separations=True`` finds the detected source nearest to the central
# galaxy in every full-resolution image (photutils where installed, else
# ``scipy.ndimage``; touching pairs are deblended) and adds ``sep_px``,
# ``sep_r90`` (in units of petroR90_r: the GZ2 scale is 0.02 petroR90_r per
# pixel), ``sep_arcsec`` and ``sep_kpc`` where the scale and redshift are
# known, and ``n_sources``. ``inf`` means no neighbour was detected.
import numpy as np

from galmorph import MorphologyClassifier
from galmorph.data.examples import EXAMPLES_DIR, example_galaxies


def show(table, *columns):
    """Print a table (or some of its columns) with 4 significant digits."""
    table = table[list(columns)] if columns else table.copy()
    for name in table.colnames:
        if table[name].dtype.kind == "f":
            table[name].info.format = ".4g"
    table.pprint(max_width=120, max_lines=40)


galaxies = example_galaxies()
result = MorphologyClassifier(progress=False).predict(galaxies, image_dir=EXAMPLES_DIR,
                                                      separations=True)
mergers = np.char.find(np.asarray(galaxies["gz2_class"], dtype=str), "(m)") >= 0
show(result[mergers | (result["sep_r90"] < 2)], "asset_id", "gz2_class", "gz2_Class8.6",
     "p_merger", "sep_r90", "n_sources")

# %%
# Compare ``gz2_Class8.6`` (the volunteers' merger vote) with ``p_merger`` for
# the three GZ2 mergers, the ``(m)`` rows: the shipped model's card
# (:doc:`/model_card`) gives the merger flag's precision and recall on its
# validation split.

# %%
# Merger fractions
# ----------------
# :func:`~galmorph.astro.mergers.merger_fraction` gives the fraction flagged,
# with a bootstrap interval (68 % by default); rows whose prediction failed
# are left out of both numerator and denominator.
from galmorph.astro.mergers import merger_fraction, merger_threshold_scan

print(merger_fraction(result, seed=0))
print(merger_fraction(result, threshold=0.2, confidence=0.95, seed=0))

# %%
# The fraction depends strongly on the threshold, which the paper chose by
# eye. The scan shows how:
scan = merger_threshold_scan(result, thresholds=[0.05, 0.1, 0.2, 0.3, 0.4, 0.54], seed=0)
show(scan)

# %%
# Merger probability against separation
# -------------------------------------
# :func:`~galmorph.astro.mergers.separation_bias` bins the galaxies by
# ``sep_r90`` and gives the mean ``p_merger`` and the merger fraction in each
# bin, with errors; the last row (``sep_low = inf``) holds the galaxies with no
# neighbour in the image. A mean ``p_merger`` that rises towards small
# separations is the bias: close neighbours, interacting or not, raise the vote.
from galmorph.astro.mergers import separation_bias

bias = separation_bias(result, seed=0)
show(bias, "sep_low", "sep_high", "n", "mean_p_merger", "mean_p_merger_err",
     "merger_fraction")

# %%
from matplotlib.figure import Figure

fig = Figure(figsize=(6, 3.6), layout="constrained")
ax = fig.add_subplot()
finite = np.isfinite(result["sep_r90"])
ax.scatter(result["sep_r90"][finite], result["p_merger"][finite], c="C0",
           label="neighbour detected")
ax.scatter(np.full((~finite).sum(), 7.0), result["p_merger"][~finite], c="C1", marker="x",
           label="no neighbour (drawn at 7)")
ax.scatter(result["sep_r90"][mergers & finite], result["p_merger"][mergers & finite],
           s=160, facecolors="none", edgecolors="k", label="GZ2 merger")
ax.axhline(0.54, color="gray", ls="--", lw=1)
ax.set_xlabel("nearest neighbour separation (petroR90_r)")
ax.set_ylabel("p_merger (Class8.6)")
ax.legend(fontsize=8)

# %%
# Choosing a threshold explicitly
# -------------------------------
# :func:`~galmorph.astro.merger_threshold.propose_merger_threshold` makes the choice a
# rule. With separations it takes the lowest threshold from which close pairs
# (a neighbour within 1.5 petroR90_r) no longer dominate the flagged sample;
# where that is inconclusive, the knee of the fraction-against-threshold curve.
# The ``rule`` says which was used, and why:
from galmorph.astro.merger_threshold import propose_merger_threshold

proposal = propose_merger_threshold(result)
print(f"threshold {proposal.threshold:g}")
print(proposal.rule)
show(proposal.scan[:6])

# %%
# On a real survey the same calls run on ``clf.predict(catalog,
# separations=True)`` for a table of positions (cutouts by RA/Dec, see
# tutorial 3); with a redshift column ``sep_kpc`` gives the projected
# separation in proper kpc (Planck18 unless ``cosmology=`` is given).
