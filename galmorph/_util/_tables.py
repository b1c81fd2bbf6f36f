"""Table helpers."""
__all__ = ["find_column"]


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
