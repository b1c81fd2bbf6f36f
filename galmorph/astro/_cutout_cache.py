"""The on-disk cache of SDSS cutouts: one lossless PNG per service, position, scale and size.

Behind :func:`galmorph.astro.cutouts.fetch_cutouts`, which re-exports
:func:`cutout_cache_path`.
"""
import os
import re
import threading
from pathlib import Path

import numpy as np

from galmorph.astro._cutout_backends import conf

__all__ = ["cutout_cache_path", "read_cached", "write_cached"]


def cutout_cache_path(cache_dir, backend, ra, dec, pixel_scale, size):
    """Where a cutout is cached: backend and its source (HiPS or data release, from `conf`),
    RA/Dec to 1e-5 deg (36 mas), pixel scale and size.

    Parameters
    ----------
    cache_dir : path
        The cache folder.
    backend : {"hips2fits", "sdss"}
        The service; for "hips2fits" the file name holds ``conf.hips_survey``,
        otherwise the SDSS data release ``conf.sdss_data_release``.
    ra, dec : float
        The position, degrees (ICRS).
    pixel_scale : float
        Arcsec per pixel.
    size : int
        Pixels on a side.

    Returns
    -------
    path : `~pathlib.Path`
        The PNG file in ``cache_dir``; it need not exist.
    """
    source = conf.hips_survey if backend == "hips2fits" else f"dr{conf.sdss_data_release}"
    source = re.sub(r"[^A-Za-z0-9.-]+", "-", str(source))
    name = f"{backend}_{source}_{ra:09.5f}_{dec:+09.5f}_{pixel_scale:.5f}_{size}.png"
    return Path(cache_dir) / name


def read_cached(path, size):
    """The cached ``uint8 (size, size, 3)`` image at ``path``, or None (missing or damaged)."""
    if not path.is_file():
        return None
    from PIL import Image
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except OSError:
        return None  # a damaged cache file is fetched again (and overwritten)
    return array if array.shape == (size, size, 3) else None


def write_cached(path, image):
    """PNG (lossless), written to a temporary name then renamed: never half a file."""
    from PIL import Image
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, path)
