"""``lazy_exports``: a package namespace whose public names are imported on first use."""
from importlib import import_module

__all__ = ["lazy_exports"]


def lazy_exports(package, where):
    """The module ``__getattr__`` and ``__dir__`` of ``package`` (PEP 562).

    Parameters
    ----------
    package : str
        The package's ``__name__``, e.g. ``"galmorph.data"``.
    where : dict
        Public name -> the module that defines it: a sub-module of ``package`` by its
        name (``"catalogs"``), or any module by its full name (``"galmorph.x.y"``).

    Returns
    -------
    tuple of callable
        ``(__getattr__, __dir__)``, to assign in the package's ``__init__``.
    """
    def __getattr__(name):
        if name in where:
            module = where[name]
            full = module if module.startswith("galmorph.") else f"{package}.{module}"
            return getattr(import_module(full), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(import_module(package))) | set(where))

    return __getattr__, __dir__
