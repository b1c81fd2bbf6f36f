"""Reading galaxies: labelled layouts and image folders, images, the training cache.

- :mod:`.catalogs`: :func:`open_catalog` reads any layout (the Kaggle challenge's, a
  GZ2 release table with its images, or a folder of images) into a :class:`Catalog`,
  with errors naming the file, row and column; :func:`find_images` lists image files;
- :mod:`.images`: :func:`load_image` (JPEG, PNG, FITS) and :func:`crop_and_resize`,
  the preprocessing every model sees;
- :mod:`.cache`: :func:`prepare` builds (and resumes) the uint8 memory-mapped cache that
  training and evaluation read, :func:`open_prepared` opens it, :func:`combine` joins
  several;
- :data:`ON_ERROR`: the accepted values of every ``on_error`` (``--on-error``).

The modules whose names start with an underscore are their plumbing. The public names
below are imported on first use, so ``import galmorph.data`` stays cheap.
"""
from galmorph._util._lazy import lazy_exports

__all__ = ["Catalog", "open_catalog", "find_images", "load_image", "crop_and_resize",
           "prepare", "open_prepared", "combine", "ON_ERROR"]

_WHERE = {"Catalog": "catalogs", "open_catalog": "catalogs", "find_images": "catalogs",
          "load_image": "images", "crop_and_resize": "images",
          "prepare": "cache", "open_prepared": "cache", "combine": "cache",
          "ON_ERROR": "_validate"}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
