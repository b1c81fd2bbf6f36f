"""24 real Galaxy Zoo 2 galaxies that ship with galmorph (see ``CREDIT.rst`` here).

They span the GZ2 tree -- smooth, edge-on, barred, spiral, merger, ring,
irregular, star or artifact -- so the Quick start and the tutorials can
classify real galaxies offline, and show the volunteers' answers beside the
model's.
"""
from pathlib import Path

__all__ = ["EXAMPLES_DIR", "example_galaxies"]

#: The folder of the example JPEGs, ``examples.csv`` and ``CREDIT.rst``.
EXAMPLES_DIR = Path(__file__).resolve().parent


def example_galaxies():
    """The example galaxies as an astropy Table, one row per galaxy.

    Returns
    -------
    astropy.table.Table
        ``asset_id``, ``dr7objid``, ``gz2_class``, ``shows`` (what the galaxy
        was chosen to show), ``file`` (absolute path of its 424 x 424 JPEG) and
        the GZ2 vote fractions as ``gz2_Class1.1`` ... ``gz2_Class11.6``
        (Kaggle weighted encoding), ready for
        ``MorphologyClassifier().predict(table)``.

    Examples
    --------
    >>> from galmorph.data.examples import example_galaxies
    >>> galaxies = example_galaxies()
    >>> len(galaxies), str(galaxies["gz2_class"][0])
    (24, 'Er')
    """
    import numpy as np
    from astropy.table import Table

    from galmorph.schema import KAGGLE_COLUMNS, describe_column

    raw = Table.read(EXAMPLES_DIR / "examples.csv", format="ascii.csv",
                     converters={"dr7objid": str})
    table = Table()
    for name in ("asset_id", "dr7objid", "gz2_class", "shows"):
        table[name] = raw[name]
    table["file"] = [str(EXAMPLES_DIR / f) for f in raw["file"]]
    for column in KAGGLE_COLUMNS:
        table[f"gz2_{column}"] = np.asarray(raw[column], dtype=np.float64)
        table[f"gz2_{column}"].description = "GZ2 volunteers: " + describe_column(column)
    table.meta["source"] = "Galaxy Zoo 2 (Willett et al. 2013; Hart et al. 2016); images: SDSS"
    return table
