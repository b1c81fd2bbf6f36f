"""
3. Classifying a catalogue and sky positions
============================================

:class:`~galmorph.astro.classifier.MorphologyClassifier` takes a table of
galaxies -- image paths, or ``ra``/``dec`` -- and returns the same table with
the Galaxy Zoo 2 morphology added. The catalogue steps below ran when the docs
were built, on the 24 galaxies shipped with galmorph. Classifying by position
fetches SDSS cutouts over the network, which the docs build does not have: those
steps are shown as code, and say so.
"""

# %%
# A catalogue of image files
# --------------------------
# Any table astropy reads will do (ECSV, FITS, VOTable, CSV). Its image-path
# column may be called ``path``, ``file``, ``filename`` or ``image``, or be
# named with ``image_column=``; relative paths are taken from ``image_dir``.
# Every input column is kept, in the input's row order.
import tempfile
from pathlib import Path

from astropy.table import Table

from galmorph.data.examples import EXAMPLES_DIR, example_galaxies

work = Path(tempfile.mkdtemp(prefix="galmorph-classify-"))
examples = example_galaxies()
catalog = Table({"asset_id": examples["asset_id"], "gz2_class": examples["gz2_class"],
                 "image": [Path(f).name for f in examples["file"]]})
catalog.add_row({"asset_id": 1, "gz2_class": "?", "image": "missing.jpg"})  # a broken row
catalog.write(work / "catalog.ecsv")
print(Table.read(work / "catalog.ecsv")[-4:])

# %%
from galmorph import MorphologyClassifier

clf = MorphologyClassifier(progress=False)      # the shipped model, on the CPU or a GPU
result = clf.predict(Table.read(work / "catalog.ecsv"), image_dir=EXAMPLES_DIR)
result["asset_id", "gz2_class", "Class1.1", "Class1.2", "Class8.6", "is_merger",
       "predict_ok"][-5:].pprint(max_width=120)

# %%
# One unreadable image never loses the other rows: its fractions are NaN,
# ``predict_ok`` is False and ``predict_error`` says which row and why.
print(result["predict_error"][-1])

# %%
# Each of the 37 columns says in words what it holds, and the table's
# metadata records how the numbers were made. Write it as ECSV to keep both:
print(result["Class8.6"].description)
print({k: result.meta[k] for k in ("model_name", "schema_version", "merger_threshold",
                                   "tta", "preprocessing", "n_failed")})
result.write(work / "result.ecsv")
print(Table.read(work / "result.ecsv").meta["model_name"])

# %%
# The same from the shell (``galmorph classify CATALOG --out RESULT``; relative
# image paths are looked up beside the catalogue, then in the working directory,
# or in ``--image-dir DIR``), run here as a real subprocess:
import subprocess
import sys

shell = subprocess.run(
    [sys.executable, "-m", "galmorph", "classify", str(work / "catalog.ecsv"),
     "--out", str(work / "cli.ecsv")], cwd=EXAMPLES_DIR, capture_output=True, text=True)
print(shell.stdout[-1500:] or shell.stderr[-1500:])

# %%
# Other inputs work too: a path or a list of paths, a ``uint8`` ``(H, W, 3)``
# image or an ``(N, H, W, 3)`` stack, PIL images, a pandas DataFrame or a
# generator of any of these (consumed ``chunk_size`` rows at a time):
import numpy as np

from galmorph.data.images import load_image

image = load_image(EXAMPLES_DIR / examples["file"][0])         # (424, 424, 3) uint8
one = clf.predict(image)
stack = clf.predict(np.stack([image, np.rot90(image)]))
print(len(one), len(stack), f"{one['Class1.1'][0]:.3f}", f"{stack['Class1.1'][1]:.3f}")

# %%
# Sky positions (needs the network; not run here)
# ------------------------------------------------
# A table with ``ra`` and ``dec`` (degrees or any angle unit) or a
# :class:`~astropy.coordinates.SkyCoord` column is classified from SDSS colour
# cutouts (hips2fits by default, cached on disk). With ``petroR90_r`` (arcsec)
# the cutout is made at the GZ2 scale, 0.02 petroR90_r per pixel, so that the
# galaxy fills the frame as in training:
#
# .. code-block:: python
#
#    from astropy import units as u
#    from astropy.coordinates import SkyCoord
#
#    positions = Table({"objid": [1, 2],
#                       "ra": [150.1, 185.72] * u.deg, "dec": [2.2, 15.82] * u.deg,
#                       "petroR90_r": [8.5, 12.0] * u.arcsec})
#    result = clf.predict(positions)
#    clf.predict(SkyCoord("10h00m24s +02d12m00s"))     # one position, a one-row table
#
# .. code-block:: console
#
#    $ galmorph classify --ra 150.1 --dec 2.2 --petro-r90 8.5
#    $ galmorph classify catalog.ecsv --out result.ecsv
#
# Where the service cannot be reached, every row fails at once with the
# reason in ``predict_error`` (one warning, no long waits). Coordinates are
# checked before anything is fetched, so a mistake costs nothing. Unit-less
# coordinates that all fit radians, for example, are refused (this one ran):
from galmorph.errors import DataError

radians = Table({"ra": [2.62, 3.24], "dec": [0.038, 0.276]})
try:
    clf.predict(radians)
except DataError as err:
    print(f"{type(err).__name__}: {err}")

# %%
# Selecting a GZ2-like sample from SDSS (needs the network; not run here):
# :func:`~galmorph.astro.catalog.query_gz2_sample` sends the GZ2 main-sample
# cuts (:func:`~galmorph.astro.catalog.gz2_selection`: Petrosian r < 17,
# petroR90_r > 3 arcsec, 0.0005 < z < 0.25) to SkyServer and returns a table
# ready for ``clf.predict``. The SQL it sends can be read offline:
from galmorph.astro.catalog import gz2_sample_sql

print(gz2_sample_sql(limit=10))

# %%
import shutil

shutil.rmtree(work)
