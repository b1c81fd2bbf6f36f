"""
5. Redshift-bias diagnostics
============================

Features are harder to see in distant galaxies: the *features or disk*
fraction falls with redshift and the *smooth* fraction rises (Hart et al.
2016 correct the GZ2 votes for it). And beyond z ~ 0.085 a flux-limited sample
holds mostly luminous galaxies, which are mostly ellipticals. A network
trained on the votes inherits both. :func:`~galmorph.astro.redshift.redshift_trends`
and :func:`~galmorph.astro.redshift.redshift_bias_flags` measure them in a
classified catalogue.

A real catalogue with redshifts comes from SDSS (``query_gz2_sample``, network,
not run here; tutorial 3). So that the diagnostics have something known to
find, this page builds a **simulated** classified catalogue with both effects
put in on purpose, and checks that they are recovered. It ran when the docs
were built.
"""

# %%
# A simulated, flux-limited catalogue
# -----------------------------------
# Galaxies uniform in comoving volume out to z = 0.2, with luminosity function
# ``M_r ~ N(-20.3, 1.1)``; the luminous ones are more often ellipticals. A
# classification bias then moves a share ``1.8 z`` of each galaxy's features
# votes to *smooth*. Only galaxies brighter than the GZ2 limit (r < 17.0) are
# kept.
import numpy as np
from astropy.cosmology import Planck18
from astropy.table import Table


def show(table, *columns):
    """Print a table (or some of its columns) with 4 significant digits."""
    table = table[list(columns)] if columns else table.copy()
    for name in table.colnames:
        if table[name].dtype.kind == "f":
            table[name].info.format = ".4g"
    table.pprint(max_width=120, max_lines=40)


rng = np.random.default_rng(0)
n = 20000
z = 0.2 * rng.random(n) ** (1 / 3)                           # uniform in volume (roughly)
abs_mag = rng.normal(-20.3, 1.1, n)
mag = abs_mag + Planck18.distmod(np.maximum(z, 1e-3)).value
elliptical = rng.random(n) < 1 / (1 + np.exp((abs_mag + 21.0) / 0.6))
features = np.where(elliptical, rng.beta(2, 8, n), rng.beta(8, 2, n))   # true, (n,)
seen = features * (1 - 1.8 * z)                              # the classification bias
star = np.full(n, 0.01)
catalog = Table({"z": z, "petroMag_r": mag,
                 "Class1.1": (1 - star) - seen * (1 - star), "Class1.2": seen * (1 - star),
                 "Class1.3": star, "Class8.6": rng.beta(1, 30, n)})
catalog = catalog[(mag < 17.0) & (z > 0.01)]
print(f"{len(catalog)} galaxies after the flux limit, z from {catalog['z'].min():.3f} "
      f"to {catalog['z'].max():.3f}")

# %%
# Trends with redshift
# --------------------
# One row per redshift bin: the bin's mean of each traced answer, with a
# bootstrap error. The *features* fraction falls and the *smooth* one rises,
# as put in -- but this mixes the classification bias with the changing
# population.
from galmorph.astro.redshift import redshift_bias_flags, redshift_trends

trends = redshift_trends(catalog, bins=6, seed=0)
show(trends, "z_low", "z_high", "z_mean", "n", "Class1.1", "Class1.1_err", "Class1.2",
     "Class1.2_err")

# %%
# Splitting by luminosity
# -----------------------
# Within a fixed luminosity bin the population does not change with redshift,
# so a falling features fraction there is the classification bias. Absolute
# magnitudes come from ``petroMag_r`` and the distance modulus, **without a
# K-correction** (below ~0.3 mag in r at z < 0.25): good enough to compare
# luminosity bins, not for photometry.
by_lum = redshift_trends(catalog, bins=5, abs_mag_bins=[-23, -21.5, -20.5, -19], seed=0)
show(by_lum, "mag_low", "mag_high", "z_mean", "n", "Class1.2", "Class1.2_err")

# %%
from galmorph.plots import plot_redshift_trends

trend_axes = plot_redshift_trends(by_lum)

# %%
# The flags
# ---------
# :func:`~galmorph.astro.redshift.redshift_bias_flags` turns the trends into
# verdicts, each with the evidence in words:
flags = redshift_bias_flags(by_lum)
print({k: v for k, v in flags.items() if k != "messages"})
for message in flags["messages"]:
    print("-", message)

# %%
# When the table given to ``MorphologyClassifier.predict`` has a ``z`` (or
# ``redshift``) column, ``result.meta["redshift_trends"]`` holds the same
# summary (:func:`~galmorph.astro.redshift.summarize_redshift_trends`,
# JSON-able), so the flags travel with the ECSV file:
import json

from galmorph.astro.redshift import summarize_redshift_trends

summary = summarize_redshift_trends(catalog, seed=0)
print(json.dumps(summary, default=str)[:600], "...")
