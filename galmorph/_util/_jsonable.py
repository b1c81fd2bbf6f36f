"""Nested results (NumPy scalars and arrays, paths, tuples) -> plain JSON data."""
import math
import os

import numpy as np

__all__ = ["jsonable", "plain"]


def plain(value):
    """A NumPy scalar as the Python number it holds (a galaxy ID as ``int``); anything else as is.

    >>> import numpy as np
    >>> plain(np.int64(587722)), plain("NGC 4414")
    (587722, 'NGC 4414')
    """
    return value.item() if isinstance(value, np.generic) else value


def jsonable(obj):
    """``obj`` as plain JSON data: dicts, lists, str, int, float, bool and None.

    NumPy scalars become Python numbers, arrays and tuples lists, paths strings;
    non-finite floats become None (JSON has no NaN); anything else its ``str``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"n": np.int64(3), "x": (np.float32(0.5), float("nan")), "ok": np.bool_(True)})
    {'n': 3, 'x': [0.5, None], 'ok': True}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)
