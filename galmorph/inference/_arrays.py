"""The image arrays the inference layer takes: ``uint8 (N, 3, H, W)``, as the cache holds them.

Checked by :func:`galmorph.inference.engine.predict_arrays` and by the int8 calibration of
:mod:`galmorph.inference.quantize`, which both take such arrays.
"""
import numpy as np

from galmorph.errors import DataError

__all__ = ["check_image_array"]


def check_image_array(images, name="images"):
    """Check that ``images`` is a ``uint8`` array of shape ``(N, 3, H, W)``.

    Parameters
    ----------
    images : numpy.ndarray or numpy.memmap
        The array to check; it is not copied.
    name : str
        How to call the array in the error message (e.g. a cache path).

    Raises
    ------
    galmorph.errors.DataError
        Naming the wrong dtype or shape and what is expected instead.
    """
    shape = getattr(images, "shape", None)
    dtype = getattr(images, "dtype", None)
    if shape is None or dtype is None:
        raise DataError(f"{name} must be a numpy uint8 array of shape (N, 3, H, W), "
                        f"got {type(images).__name__}")
    if len(shape) != 4 or shape[1] != 3:
        raise DataError(f"{name} has shape {tuple(shape)}; expected (N, 3, H, W) channels-first "
                        f"RGB, e.g. from galmorph.data.images.crop_and_resize")
    if np.dtype(dtype) != np.uint8:
        raise DataError(f"{name} has dtype {dtype}; expected uint8 pixel values 0-255 as written "
                        f"by crop_and_resize / galmorph prepare (multiply floats in [0, 1] by 255 "
                        f"and round)")
