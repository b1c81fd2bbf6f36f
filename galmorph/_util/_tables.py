"""Table helpers, and the column names galmorph recognises in any user's table."""
__all__ = ["find_column", "PATH_NAMES", "RA_NAMES", "DEC_NAMES"]

#: Image-path columns, in the order they are looked for (case-insensitive).
PATH_NAMES = ("path", "file", "filename", "image", "file_name", "filepath", "image_path")
#: Right ascension and declination columns (degrees unless they carry a unit).
RA_NAMES = ("ra", "raj2000", "ra_deg", "ra_icrs")
DEC_NAMES = ("dec", "dej2000", "decj2000", "dec_deg", "de_icrs", "dec_icrs")


def find_column(table, candidates):
    """The first column of ``table`` named like one of ``candidates`` (case-insensitive), or None.

    ``table`` is anything with ``colnames`` (astropy) or ``columns`` (pandas).
    """
    names = list(getattr(table, "colnames", None) or getattr(table, "columns", []))
    lower = {str(name).lower(): name for name in names}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None
