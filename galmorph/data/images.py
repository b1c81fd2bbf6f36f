"""Reading galaxy images and cutting them to the network's input.

:func:`load_image` reads a JPEG, PNG or FITS file into ``uint8 (H, W, 3)``;
:func:`crop_and_resize` keeps the central ``crop x crop`` pixels and
downsamples them to ``size x size``, channels first, as the networks take it;
:func:`image_suffix` tells which files are images.

The preprocessing follows Dieleman et al. (2015): the 424 x 424 Kaggle images
are cropped to their central 224 x 224 pixels (the galaxy) and downsampled
(to 80 x 80 here by default). For JPEG files the decoder is asked for a
reduced-scale image (libjpeg DCT scaling, :meth:`PIL.Image.Image.draft`)
whenever the central crop keeps at least ``size`` pixels at that scale: a
424-pixel JPEG decodes at 212 pixels, so the crop is 112 -> 80 instead of
224 -> 80, about twice as fast. The result matches a full decode, crop and
resize with the same filter (:data:`RESAMPLE`, bilinear with antialiasing) to
a mean absolute difference of about 0.3 grey levels (at most ~15 grey levels on
single pixels next to bright stars); ``draft=False`` gives the full decode.
The crop is passed to PIL as the ``box`` of the resize, so the antialiasing
filter may read up to about one output pixel beyond the crop's edge (no
artificial edge); for integer-aligned crops the result equals
``Image.resize((size, size), BILINEAR, box=crop_box)`` on the full image.

Colour rules
------------
The networks were trained on g, r, i colour composites. With
``convert="flag"`` (the default) other input is converted by these rules and
never silently: ``return_note=True`` returns the note (:data:`NOTES`; ``""``
for colour input) with the array, else an :class:`ImageConversionWarning` is
issued. ``convert="refuse"`` raises :class:`~galmorph.errors.DataError`.

- greyscale (``1``, ``L``, ``I;16``, ``I``) is replicated to three channels;
  images with more than 8 bits per pixel are scaled linearly from their full
  integer range (``0..65535`` for 16 bits) to ``0..255``;
- ``RGBA`` / ``LA`` / ``PA`` images and palette images with transparency: the
  alpha channel is dropped (PIL's ``convert("RGB")``), transparent pixels keep
  their colour;
- ``CMYK`` is converted by PIL (approximately); palette and ``YCbCr`` colour
  images are converted by PIL with no note (no colour information is lost);
- FITS: one band is replicated to three channels; see :func:`load_image`.

References
----------
Dieleman S., Willett K. W., Dambre J., 2015, MNRAS 450, 1441.
Lupton R. et al., 2004, PASP 116, 133.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from galmorph._util._warnings import caller_stacklevel
from galmorph.errors import DataError

__all__ = ["load_image", "as_rgb", "crop_and_resize", "image_suffix", "IMAGE_SUFFIXES",
           "FITS_SUFFIXES", "RESAMPLE", "NOTES", "CONVERT_CHOICES", "INPUT_NOTE_DESCRIPTION",
           "GZ2_SIDE", "size_note",
           "ImageConversionWarning"]

#: File name endings (lower case) that galmorph reads as images; the one list
#: :mod:`galmorph.data._files` and the catalogs use too.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".fits", ".fit", ".fits.gz", ".fit.gz")
#: The FITS endings among them (images and tables alike).
FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz")
_FITS = FITS_SUFFIXES
_LONGEST_FIRST = tuple(sorted(IMAGE_SUFFIXES, key=len, reverse=True))

#: PIL resampling filter of the downsampling step (``Image.BILINEAR``, with
#: PIL's antialiasing support scaled to the reduction). Chosen by measurement:
#: as close to the full decode as LANCZOS/BICUBIC and faster; BOX disagrees
#: with the full decode by up to ~50 grey levels after DCT scaling.
RESAMPLE = 2  # PIL.Image.BILINEAR, kept numeric so importing this module stays cheap

#: What ``convert=`` (``--convert``) accepts: convert and note, or refuse.
CONVERT_CHOICES = ("flag", "refuse")
#: Description of the ``input_note`` column of predictions.
INPUT_NOTE_DESCRIPTION = ("how the image was converted to the network's g, r, i colour input, "
                          "and whether its size leaves the pixel scale unknown (empty: a "
                          "424 x 424 colour image used as it is)")
#: The side of the GZ2 and Kaggle images, whose pixel scale (0.02 petroR90_r arcsec per
#: pixel) the models were trained at.
GZ2_SIDE = 424


def size_note(width, height):
    """The note for an image that is not 424 x 424 (empty for one that is).

    Parameters
    ----------
    width, height : int
        The image's size in pixels, as read from the file.

    Returns
    -------
    str
        ``""`` for a 424 x 424 image (:data:`GZ2_SIDE`); else a note that its pixel
        scale is unknown and taken to be GZ2's.
    """
    if (width, height) == (GZ2_SIDE, GZ2_SIDE):
        return ""
    return (f"{width} x {height} pixels, not {GZ2_SIDE} x {GZ2_SIDE}: the pixel scale is "
            f"unknown and taken to be GZ2's")


def _join(*notes):
    return "; ".join(n for n in notes if n)

#: The note of each conversion (``convert="flag"``), and how a refusal describes the input.
NOTES = {
    "grey": ("greyscale converted to RGB by repeating the band", "is greyscale"),
    "alpha": ("alpha channel dropped", "has an alpha channel"),
    "cmyk": ("CMYK converted to RGB", "is CMYK"),
    "fits1": ("one-band FITS converted to RGB by repeating the band", "has one band"),
}
_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class ImageConversionWarning(UserWarning):
    """An image was converted to RGB colour by a stated rule (see :data:`NOTES`)."""


def _conversions(im):
    """Keys of :data:`NOTES` that turning PIL image ``im`` into RGB involves."""
    keys = []
    if im.mode in _GREY_MODES:
        keys.append("grey")
    if im.mode in _ALPHA_MODES or (im.mode == "P" and "transparency" in im.info):
        keys.append("alpha")
    if im.mode == "CMYK":
        keys.append("cmyk")
    return keys


def _note(keys, convert, path, mode=None):
    """The note for ``keys``; raises for ``convert="refuse"``."""
    if convert not in CONVERT_CHOICES:
        raise ValueError(f"convert must be 'flag' or 'refuse', not {convert!r}")
    if keys and convert == "refuse":
        what = " and ".join(NOTES[k][1] for k in keys) + (f" (mode {mode})" if mode else "")
        raise DataError(f"image {path} {what}; the network was trained on g, r, i colour "
                        f"images. Give colour images, or pass --convert flag (convert='flag' in "
                        f"Python) to convert it "
                        f"({'; '.join(NOTES[k][0] for k in keys)}) and note it")
    return "; ".join(NOTES[k][0] for k in keys)


def _result(arr, note, return_note, sized=""):
    """``arr`` (and its note: the conversion, then ``sized``, the size note); a conversion
    not asked for by ``return_note`` warns, a size alone does not."""
    if return_note:
        return arr, _join(note, sized)
    if note:
        # No file name: Python's default filter then shows each kind of conversion once.
        warnings.warn(f"image converted: {note} (pass return_note=True to get the note of each "
                      f"image, or convert='refuse' to refuse such images)",
                      ImageConversionWarning, stacklevel=caller_stacklevel())
    return arr


def image_suffix(path):
    """The galmorph image suffix of ``path`` (lower case), or None for other files."""
    name = Path(path).name.lower()
    return next((sfx for sfx in _LONGEST_FIRST if name.endswith(sfx)), None)


def _pil():
    # Imported lazily: no work at import time, and workers import it once.
    from PIL import Image, ImageFile
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A truncated JPEG must be an error, never an image with a grey bottom half.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    return Image


def _to_rgb(im):
    """PIL image of any mode -> RGB, by the rules in the module docstring."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)  # (H, W)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() <= 65535 else float(arr.max())
        grey = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return _pil().fromarray(np.repeat(grey[:, :, None], 3, axis=2), "RGB")
    if im.mode == "F":
        raise DataError("floating-point images are not supported; save them as FITS")
    return im.convert("RGB")


def _open_pil(path):
    Image = _pil()
    try:
        im = Image.open(path)
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except Exception as err:
        raise DataError(f"cannot read image {path}: {err} (is it a JPEG/PNG/FITS file?)") from None
    return im


def _decode(im, path):
    """Force decoding so truncated/corrupt data raise here, with the file named."""
    try:
        im.load()
    except Exception as err:
        raise DataError(f"cannot decode image {path}: {err}; the file is truncated or corrupt, "
                        f"replace or remove it") from None


def load_image(path, *, convert="flag", return_note=False):
    """Read an image file into ``uint8 (H, W, 3)`` RGB.

    Parameters
    ----------
    path : path-like
        A JPEG, PNG or FITS file.
    convert : {"flag", "refuse"}
        What to do with input that is not colour (greyscale, alpha, CMYK, one
        FITS band): convert it by the module's colour rules and note it, or
        raise :class:`~galmorph.errors.DataError`.
    return_note : bool
        Also return the note (``""`` when nothing was converted); without it
        a conversion issues an :class:`ImageConversionWarning`.

    Returns
    -------
    numpy.ndarray, or (numpy.ndarray, str) with ``return_note``
        ``uint8`` array of shape ``(H, W, 3)``.

    Notes
    -----
    JPEG and PNG follow the colour rules of this module. FITS files are read
    with :mod:`astropy.io.fits`:

    - one 2D image HDU: a greyscale image, replicated to three channels;
    - three 2D image HDUs, or one ``(3, H, W)`` cube: the g, r and i bands,
      in that order, mapped to blue, green and red as the SDSS colour
      composites do (a ``FILTER``/``BAND`` header naming g, r, i reorders them).

    Both are scaled with :func:`astropy.visualization.make_lupton_rgb`
    (asinh, ``Q = 8``) after subtracting each band's median (the sky), with
    the stretch set per image so that the 99.9th percentile of the intensity
    is white. NaN pixels count as sky.

    Raises
    ------
    galmorph.errors.DataError
        The file is missing, unreadable, truncated or of an unsupported kind,
        or needs a conversion and ``convert="refuse"``.

    Examples
    --------
    >>> from galmorph.data.examples import EXAMPLES_DIR
    >>> img = load_image(EXAMPLES_DIR / "287319.jpg")   # a GZ2 JPEG shipped with galmorph
    >>> img.shape, img.dtype
    ((424, 424, 3), dtype('uint8'))
    """
    _note([], convert, "")  # checks convert
    path = Path(path)
    if image_suffix(path) in _FITS:
        return _result(*_load_fits(path, convert), return_note)
    with _open_pil(path) as im:
        _note(_conversions(im), convert, path, im.mode)  # refuse before decoding
        _decode(im, path)
        return as_rgb(im, convert=convert, return_note=return_note, name=path)


def as_rgb(im, *, convert="flag", return_note=False, name="in memory"):
    """A PIL image as ``uint8 (H, W, 3)`` RGB, by the colour rules of this module.

    ``convert`` and ``return_note`` as for :func:`load_image`; ``name`` names
    the image in errors.

    Parameters
    ----------
    im : PIL.Image.Image
        An opened image, in any mode.
    convert : {"flag", "refuse"}
        What to do with input that is not colour: convert it and note it, or
        raise :class:`~galmorph.errors.DataError` (see :func:`load_image`).
    return_note : bool
        Also return the note (``""`` when nothing was converted); without it
        a conversion issues an :class:`ImageConversionWarning`.
    name : str or path-like
        The image's name in error messages (default ``"in memory"``).

    Returns
    -------
    numpy.ndarray, or (numpy.ndarray, str) with ``return_note``
        ``uint8`` array of shape ``(H, W, 3)``.
    """
    note = _note(_conversions(im), convert, name, im.mode)
    try:
        rgb = _to_rgb(im)
    except DataError as err:
        raise DataError(f"cannot use image {name}: {err}") from None
    return _result(np.array(rgb, dtype=np.uint8), note, return_note)  # (H, W, 3)


def _load_fits(path, convert):
    """(uint8 (H, W, 3), note) of a FITS file."""
    from galmorph.data import _fits

    planes = _fits.gri_planes(path)
    note = _note(["fits1"] if len(planes) == 1 else [], convert, f"{path}")
    g, r, i = planes * 3 if len(planes) == 1 else planes
    return _fits.lupton_rgb(i, r, g, path), note  # red = i, green = r, blue = g


def _crop_box(width, height, crop, name):
    if crop is None:
        crop = min(width, height)
    if width < crop or height < crop:
        # galmorph predict and the classifier take the crop from the checkpoint (no option).
        raise DataError(f"image {name} is {width} x {height} pixels, smaller than the "
                        f"{crop} x {crop} central crop; give images of at least {crop} pixels "
                        f"(the GZ2 and Kaggle cutouts are 424), or train with a smaller crop "
                        f"(galmorph train --crop N; galmorph prepare --crop N for a cache): "
                        f"prediction uses the crop the model was trained with")
    left, top = (width - crop) / 2.0, (height - crop) / 2.0
    # Whole pixels where the difference is even, half-pixel centred otherwise.
    return (left, top, left + crop, top + crop)


def _check_sizes(crop, size):
    if crop is not None and (int(crop) != crop or crop < 1):
        raise ValueError(f"crop must be a positive integer or None, not {crop!r}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, not {size!r}")


def crop_and_resize(image_or_path, crop=224, size=80, *, draft=True, convert="flag",
                    return_note=False):
    """Cut the central ``crop x crop`` pixels and downsample to ``size x size``.

    Parameters
    ----------
    image_or_path : path-like or numpy.ndarray
        An image file (JPEG, PNG, FITS) or a ``uint8 (H, W, 3)`` array as
        returned by :func:`load_image`.
    crop : int or None
        Side of the central square kept, in pixels of the input (224 for the
        424-pixel Kaggle images). ``None`` keeps the largest central square.
    size : int
        Side of the output, in pixels.
    draft : bool
        Let JPEG files decode at reduced scale where the crop keeps at least
        ``size`` pixels (see the module docstring). ``False`` decodes fully.
    convert : {"flag", "refuse"}
        See :func:`load_image` (arrays are RGB already: nothing to convert).
    return_note : bool
        Also return the conversion note, see :func:`load_image`.

    Returns
    -------
    numpy.ndarray, or (numpy.ndarray, str) with ``return_note``
        ``uint8`` array of shape ``(3, size, size)`` (channels first).

    Raises
    ------
    galmorph.errors.DataError
        The file cannot be read or decoded, is smaller than ``crop``, or
        needs a conversion and ``convert="refuse"``.

    Examples
    --------
    >>> from galmorph.data.examples import EXAMPLES_DIR
    >>> x = crop_and_resize(EXAMPLES_DIR / "287319.jpg")
    >>> x.shape
    (3, 80, 80)
    """
    _check_sizes(crop, size)
    _note([], convert, "")  # checks convert
    Image = _pil()
    if isinstance(image_or_path, np.ndarray):
        arr = image_or_path
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise DataError(f"image array must be uint8 (H, W, 3), not {arr.dtype} {arr.shape}")
        im = Image.fromarray(np.ascontiguousarray(arr), "RGB")
        return _result(_resize(im, _crop_box(im.width, im.height, crop, "array"), size), "",
                       return_note, size_note(im.width, im.height))
    path = Path(image_or_path)
    if image_suffix(path) in _FITS:
        arr, note = _load_fits(path, convert)
        x, sized = crop_and_resize(arr, crop, size, return_note=True)
        return _result(x, note, return_note, sized)
    with _open_pil(path) as im:
        note = _note(_conversions(im), convert, path, im.mode)  # before draft() changes mode
        sized = size_note(im.width, im.height)
        box = _crop_box(im.width, im.height, crop, path)
        if draft and im.format == "JPEG":
            box = _draft(im, box, size)
        _decode(im, path)
        try:
            rgb = _to_rgb(im)
        except DataError as err:
            raise DataError(f"cannot use image {path}: {err}") from None
        return _result(_resize(rgb, box, size), note, return_note, sized)


def _draft(im, box, size):
    """Ask libjpeg for the smallest DCT scale that keeps the crop >= size pixels."""
    width, height = im.size
    crop_w = box[2] - box[0]
    want = (math.ceil(width * size / crop_w), math.ceil(height * size / crop_w))
    im.draft("RGB", want)
    scale = round(width / im.size[0])  # 1, 2, 4 or 8
    return tuple(v / scale for v in box)


def _resize(im, box, size):
    out = im.resize((size, size), RESAMPLE, box=box)
    return np.asarray(out, dtype=np.uint8).transpose(2, 0, 1).copy()  # (3, size, size)
