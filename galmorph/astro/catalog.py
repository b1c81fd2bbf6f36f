"""The Galaxy Zoo 2 main-sample selection, on a table or as an SDSS query.

GZ2 (Willett et al. 2013, Sect. 2) classified the SDSS DR7 Legacy galaxies with

- extinction-corrected Petrosian magnitude ``petroMag_r - extinction_r < 17.0``;
- Petrosian 90 % light radius ``petroR90_r > 3`` arcsec;
- ``0.0005 < z < 0.25`` where a spectroscopic redshift exists.

`gz2_selection` applies these cuts to an astropy Table and reports how many rows
each removed; `gz2_sample_sql` writes them as SkyServer SQL and
`query_gz2_sample` runs that SQL through ``astroquery.sdss.SDSS.query_sql``.

References
----------
Willett, K. W., et al. 2013, MNRAS, 435, 2835.
"""
import time

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

from galmorph.errors import DataError, GalmorphError

__all__ = ["gz2_selection", "gz2_sample_sql", "query_gz2_sample", "SDSSQueryError",
           "SELECTION_COLUMNS"]

#: SDSS columns the GZ2 sample selection reads (not schema.GZ2_COLUMNS, the label stems).
SELECTION_COLUMNS = ("petroMag_r", "extinction_r", "petroR90_r", "z")
_UNITS = {"petroMag_r": u.mag, "extinction_r": u.mag, "petroR90_r": u.arcsec}
_SELECT = ("p.objID", "p.ra", "p.dec", "p.petroMag_r", "p.extinction_r", "p.petroR90_r",
           "s.z", "s.specObjID")
_GALAXY = 3  # PhotoObj.type of galaxies


class SDSSQueryError(GalmorphError, OSError):
    """A SkyServer query failed (network fault, HTTP error or an error page)."""


# -- selection on a table --------------------------------------------------------------------
def gz2_selection(table, *, r_mag_limit=17.0, r90_min=3.0, z_min=0.0005, z_max=0.25,
                  columns=None):
    """Apply the GZ2 main-sample cuts (Willett et al. 2013, Sect. 2) to a table.

    Parameters
    ----------
    table : `~astropy.table.Table`, `pandas.DataFrame` or dict of columns
        With the SDSS columns ``petroMag_r``, ``extinction_r`` (mag), ``petroR90_r``
        (arcsec) and ``z``; plain numbers or Quantity columns (converted to mag / arcsec).
    r_mag_limit : float or None
        Keep ``petroMag_r - extinction_r < r_mag_limit`` (mag). None disables the cut.
    r90_min : float or None
        Keep ``petroR90_r > r90_min`` (arcsec). None disables the cut.
    z_min, z_max : float or None
        Keep ``z_min < z < z_max``; either bound can be None. Rows whose ``z`` is
        masked or NaN (no spectrum) are KEPT by this cut, as in GZ2, which
        included galaxies without spectroscopic redshifts; the report counts them.
    columns : dict, optional
        Your column names for the SDSS ones, e.g. ``{"petroMag_r": "r_petro", "z": "redshift"}``.
        ``{"extinction_r": None}`` says the magnitudes are already extinction-corrected.

    Returns
    -------
    selected : `~astropy.table.Table`
        The rows that pass every enabled cut (a copy, same columns).
    report : `~astropy.table.Table`
        One row per cut, in order: ``cut``, ``condition``, ``removed`` (rows removed
        by that cut from those left by the earlier ones), ``remaining`` and ``note``.
        Indexed by ``cut``: ``report.loc["r_mag"]["removed"]``.

    Raises
    ------
    DataError
        A column a cut needs is missing, is not numeric or has the wrong unit.

    Notes
    -----
    Rows with a NaN or masked magnitude or radius cannot be shown to pass those
    cuts and are removed (the ``note`` column counts them).

    Examples
    --------
    >>> from astropy.table import Table
    >>> t = Table({"petroMag_r": [16.5, 17.5, 16.0], "extinction_r": [0.1, 0.1, 0.1],
    ...            "petroR90_r": [5.0, 6.0, 2.0], "z": [0.05, 0.1, 0.02]})
    >>> selected, report = gz2_selection(t)
    >>> len(selected), report["removed"].tolist()
    (1, [1, 1, 0])
    """
    names = _column_names(columns)
    table = _as_table(table)
    cuts = _cuts(r_mag_limit, r90_min, z_min, z_max, names)
    missing = sorted({names[k] for cut in cuts for k in cut[2] if names[k] is not None}
                     - set(table.colnames))
    if missing:
        raise DataError(
            f"gz2_selection: table has no column(s) {missing} (it has {table.colnames}). "
            "Rename them with columns={'petroMag_r': 'your_name', ...}, or disable the cut "
            "that needs them (e.g. z_min=None, z_max=None).")
    keep = np.ones(len(table), dtype=bool)
    rows = []
    for name, condition, needs, test in cuts:
        values = [_values(table, names[k], k) for k in needs]
        passed, note = test(*values)
        removed = int(np.count_nonzero(keep & ~passed))
        keep &= passed
        rows.append((name, condition, removed, int(keep.sum()), note))
    report = Table(rows=rows or None, names=("cut", "condition", "removed", "remaining", "note"),
                   dtype=(str, str, int, int, str))
    if len(report):
        report.add_index("cut")
    report.meta["input_rows"] = len(table)
    return table[keep], report


def _as_table(table):
    if isinstance(table, Table):
        return table
    if type(table).__module__.startswith("pandas"):
        return Table.from_pandas(table)
    try:
        return Table(table)
    except (TypeError, ValueError) as exc:
        raise DataError(f"gz2_selection needs an astropy Table (or a DataFrame / dict of "
                        f"columns), got {type(table).__name__}: {exc}") from None


def _column_names(columns):
    names = {k: k for k in SELECTION_COLUMNS}
    for key, value in (columns or {}).items():
        if key not in names:
            raise ValueError(f"columns: unknown SDSS column {key!r}; the renamable ones are "
                             f"{list(SELECTION_COLUMNS)}")
        if value is None and key != "extinction_r":
            raise ValueError(f"columns: only extinction_r may be None (magnitudes already "
                             f"corrected), not {key!r}")
        names[key] = value
    return names


def _cuts(r_mag_limit, r90_min, z_min, z_max, names):
    """[(name, condition, needed SDSS columns, test(values...) -> (bool mask, note))]."""
    cuts = []
    if r_mag_limit is not None:
        needs = ("petroMag_r",) + (("extinction_r",) if names["extinction_r"] else ())

        def mag_cut(mag, ext=0.0):
            r = mag - ext
            bad = ~np.isfinite(r)
            with np.errstate(invalid="ignore"):
                return np.isfinite(r) & (r < r_mag_limit), _note(bad, "NaN/masked magnitude")
        cond = (f"{names['petroMag_r']} - {names['extinction_r']} < {r_mag_limit:g} mag"
                if names["extinction_r"] else f"{names['petroMag_r']} < {r_mag_limit:g} mag")
        cuts.append(("r_mag", cond, needs, mag_cut))
    if r90_min is not None:
        def r90_cut(r90):
            with np.errstate(invalid="ignore"):
                return np.isfinite(r90) & (r90 > r90_min), _note(~np.isfinite(r90),
                                                                 "NaN/masked radius")
        cuts.append(("petroR90_r", f"{names['petroR90_r']} > {r90_min:g} arcsec", ("petroR90_r",),
                     r90_cut))
    if z_min is not None or z_max is not None:
        def z_cut(z):
            known = np.isfinite(z)
            inside = np.ones(len(z), dtype=bool)
            with np.errstate(invalid="ignore"):
                if z_min is not None:
                    inside &= z > z_min
                if z_max is not None:
                    inside &= z < z_max
            return ~known | inside, _note(~known, "without redshift kept", removed=False)
        lo = f"{z_min:g} < " if z_min is not None else ""
        hi = f" < {z_max:g}" if z_max is not None else ""
        cuts.append(("redshift", f"{lo}{names['z']}{hi} (rows without z kept)", ("z",), z_cut))
    return cuts


def _note(mask, what, removed=True):
    n = int(np.count_nonzero(mask))
    if not n:
        return ""
    return f"{n} row(s) with {what} removed" if removed else f"{n} row(s) {what}"


def _values(table, name, sdss_name):
    """float array of a column (masked -> NaN), in mag / arcsec for Quantity columns."""
    column = table[name]
    unit = getattr(column, "unit", None)
    try:
        if unit is not None and sdss_name in _UNITS:
            values = u.Quantity(column).to_value(_UNITS[sdss_name])
        else:
            values = np.asarray(column, dtype=float)
    except u.UnitConversionError:
        raise DataError(f"gz2_selection: column {name!r} has unit {unit}, expected "
                        f"{_UNITS[sdss_name]} (it stands for SDSS {sdss_name})") from None
    except (TypeError, ValueError):
        raise DataError(f"gz2_selection: column {name!r} is not numeric "
                        f"(dtype {column.dtype}); it should hold SDSS {sdss_name}") from None
    values = np.array(values, dtype=float)
    mask = np.ma.getmaskarray(column) if hasattr(column, "mask") else None
    if mask is not None:
        values[mask] = np.nan
    return values


# -- SQL -------------------------------------------------------------------------------------
def gz2_sample_sql(*, region=None, limit=1000, r_mag_limit=17.0, r90_min=3.0, z_min=0.0005,
                   z_max=0.25):
    """SkyServer SQL for GZ2 main-sample galaxies (PhotoObj galaxies + their SpecObj redshift).

    Parameters
    ----------
    region : (SkyCoord, radius) or (ra_min, ra_max, dec_min, dec_max), optional
        A cone (``radius`` an angle Quantity, searched with ``dbo.fGetNearbyObjEq``)
        or an RA/Dec box in degrees (numbers or Quantities; ``ra_min > ra_max`` wraps
        through RA = 0). None: the whole sky.
    limit : int or None
        ``SELECT TOP limit`` (SkyServer returns arbitrary rows, not the brightest).
    r_mag_limit, r90_min, z_min, z_max
        The cuts of `gz2_selection` (None disables one).

    Returns
    -------
    sql : str
        Galaxies (``PhotoObj.type = 3``, primary photometry) with a LEFT JOIN to
        ``SpecObj`` so that galaxies without a spectrum come back with a NULL ``z``.
    """
    if limit is not None and (int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    top = f"TOP {int(limit)} " if limit is not None else ""
    lines = [f"SELECT {top}" + ", ".join(_SELECT), "FROM PhotoObj AS p"]
    where = [f"p.type = {_GALAXY}"]
    cone, box = _region(region)
    if cone is not None:
        lines.append("JOIN dbo.fGetNearbyObjEq({:.8f}, {:.8f}, {:.6f}) AS n "
                     "ON n.objID = p.objID".format(*cone))
    lines.append("LEFT OUTER JOIN SpecObj AS s ON s.bestObjID = p.objID")
    if box is not None:
        where.extend(box)
    if r_mag_limit is not None:
        where.append(f"p.petroMag_r - p.extinction_r < {float(r_mag_limit)!r}")
    if r90_min is not None:
        where.append(f"p.petroR90_r > {float(r90_min)!r}")
    z_terms = ([f"s.z > {float(z_min)!r}"] if z_min is not None else []) + \
              ([f"s.z < {float(z_max)!r}"] if z_max is not None else [])
    if z_terms:
        where.append(f"(s.z IS NULL OR ({' AND '.join(z_terms)}))")
    lines.append("WHERE " + "\n  AND ".join(where))
    return "\n".join(lines)


def _region(region):
    """(cone (ra, dec, radius_arcmin) or None, box SQL terms or None)."""
    if region is None:
        return None, None
    from astropy.coordinates import SkyCoord
    if len(region) == 2 and isinstance(region[0], SkyCoord):
        centre, radius = region
        if not isinstance(radius, u.Quantity) or radius.unit.physical_type != "angle":
            raise ValueError(f"region radius must be an angle Quantity (e.g. 10 * u.arcmin), "
                             f"got {radius!r}")
        icrs = centre.icrs
        return (float(icrs.ra.deg), float(icrs.dec.deg), float(radius.to_value(u.arcmin))), None
    if len(region) == 4:
        ra_min, ra_max, dec_min, dec_max = (float(u.Quantity(v, u.deg).value) for v in region)
        if not -90 <= dec_min < dec_max <= 90:
            raise ValueError(f"region Dec range must satisfy -90 <= dec_min < dec_max <= 90, "
                             f"got {dec_min:g}, {dec_max:g}")
        ra_min, ra_max = ra_min % 360.0, ra_max % 360.0
        if ra_min <= ra_max:
            ra = f"p.ra BETWEEN {ra_min!r} AND {ra_max!r}"
        else:  # the box wraps through RA = 0
            ra = f"(p.ra >= {ra_min!r} OR p.ra <= {ra_max!r})"
        return None, [ra, f"p.dec BETWEEN {dec_min!r} AND {dec_max!r}"]
    raise ValueError("region must be (SkyCoord, radius) or (ra_min, ra_max, dec_min, dec_max), "
                     f"got {region!r}")


# -- the query -------------------------------------------------------------------------------
def query_gz2_sample(*, region=None, limit=1000, data_release=17, r_mag_limit=17.0, r90_min=3.0,
                     z_min=0.0005, z_max=0.25, timeout=60, retries=2, backoff=1.0):
    """Query SkyServer for GZ2 main-sample galaxies.

    Runs `gz2_sample_sql` through ``astroquery.sdss.SDSS.query_sql`` (its server is
    ``astroquery.sdss.conf.skyserver_baseurl``) and re-applies `gz2_selection` to
    the result, whose report is kept in ``meta["gz2_selection"]``.

    Parameters
    ----------
    region, limit, r_mag_limit, r90_min, z_min, z_max
        As in `gz2_sample_sql`.
    data_release : int
        SDSS data release (GZ2 used DR7; SkyServer serves DR >= 8 through this interface).
    timeout : float
        Request time limit, seconds.
    retries, backoff : int, float
        Retries of transient faults (HTTP 5xx, time-outs), after ``backoff * 2**k`` s.

    Returns
    -------
    table : `~astropy.table.Table`
        ``objID, ra, dec, petroMag_r, extinction_r, petroR90_r, z, specObjID`` with units;
        ``z`` and ``specObjID`` are masked for galaxies without a spectrum. Empty (with
        these columns) when nothing matches.

    Raises
    ------
    SDSSQueryError
        The query failed; the message names the server and the cause.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.coordinates import SkyCoord
    >>> t = query_gz2_sample(region=(SkyCoord(185.0, 15.0, unit="deg"), 20 * u.arcmin))  # doctest: +SKIP
    """
    cuts = dict(r_mag_limit=r_mag_limit, r90_min=r90_min, z_min=z_min, z_max=z_max)
    sql = gz2_sample_sql(region=region, limit=limit, **cuts)
    text = _run_sql(sql, data_release, timeout, retries, backoff)
    table = _parse_skyserver_csv(text)
    table, report = gz2_selection(table, **cuts)
    table.meta["gz2_selection"] = {row["cut"]: int(row["removed"]) for row in report}
    table.meta["sql"] = sql
    return table


def _run_sql(sql, data_release, timeout, retries, backoff):
    import requests
    from astroquery.sdss import SDSS
    from astroquery.sdss import conf as sdss_conf
    where = f"SkyServer DR{data_release} SQL ({sdss_conf.skyserver_baseurl})"
    for attempt in range(retries + 1):
        transient = None
        try:
            # the async form returns the HTTP response: the sync one would try to read an
            # HTML error page as CSV
            response = SDSS.query_sql_async(sql, data_release=data_release, timeout=timeout,
                                            cache=False)
            if response.status_code == 200 and "error_message" not in response.text:
                return response.text
            if response.status_code < 500 and response.status_code != 429:
                raise SDSSQueryError(f"{where} failed: HTTP {response.status_code}: "
                                     f"{_excerpt(response.text)}")
            transient = f"HTTP {response.status_code}"
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            transient = f"no answer ({exc})"
        if attempt < retries:
            time.sleep(backoff * 2 ** attempt)
    raise SDSSQueryError(f"{where} failed after {retries + 1} attempts: {transient}. "
                         "The service may be down; try again later.")


def _excerpt(text, n=200):
    return " ".join(text.split())[:n]


def _parse_skyserver_csv(text):
    """SkyServer CSV (``#Table1`` line, header, rows; ``null`` for NULL) -> typed Table."""
    try:
        from astropy.io.ascii import convert_numpy
        ids = {name: [convert_numpy(str)] for name in ("objID", "specObjID")}  # uint64 below
        table = Table.read(text, format="ascii.csv", comment="#", fill_values=[("null", "0")],
                           converters=ids)
    except Exception as exc:  # astropy raises several kinds for text that is not a table
        raise SDSSQueryError(f"SkyServer sent a payload that is not a CSV table "
                             f"({exc}): {_excerpt(text)}") from exc
    names = [c.split(".")[-1] for c in _SELECT]
    missing = [n for n in names if n not in table.colnames]
    if len(table) == 0 and len(table.colnames) <= 1:
        table = Table(names=names, dtype=[np.uint64] + [float] * 6 + [np.uint64])
    elif missing:
        raise SDSSQueryError(f"SkyServer answer lacks columns {missing}: {table.colnames}")
    for name in ("objID", "specObjID"):
        table[name] = MaskedColumn(table[name], dtype=np.uint64)  # specObjID can exceed int64
    for name in ("ra", "dec", "petroMag_r", "extinction_r", "petroR90_r", "z"):
        table[name] = MaskedColumn(table[name], dtype=float)
    for name, unit in [("ra", u.deg), ("dec", u.deg), *_UNITS.items()]:
        table[name].unit = unit
    return table
