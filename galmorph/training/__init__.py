"""Training, augmentation, inference and evaluation.

Submodules are imported on demand (``from galmorph.training.train import train``)
so that importing this package stays cheap.
"""
__all__ = []
