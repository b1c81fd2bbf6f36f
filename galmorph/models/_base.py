"""What every galmorph network shares: the input normalisation and the output head.

Both :class:`~galmorph.models.cnn.GalaxyCNN` and
:class:`~galmorph.models.resnet.ResNet18` take ``float`` images in [0, 1],
normalise them inside (callers never do; the statistics live in the config,
not the weights) and end in one of :data:`OUTPUTS`: independent sigmoids, or
the GZ2 tree normalisation of :mod:`galmorph.models.tree`.
"""
import torch
from torch import nn

from galmorph.models.tree import TREE_KINDS, TreeNormalize

__all__ = ["OUTPUTS", "check_output", "GZ2Network"]

#: Output activations: per-answer sigmoids, or normalised down the GZ2 tree.
OUTPUTS = ("sigmoid", "tree")


def check_output(config):
    """Raise ``ValueError`` unless ``config.output`` and ``config.tree_kind`` are known."""
    if config.output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, not {config.output!r}")
    if config.tree_kind not in TREE_KINDS:
        raise ValueError(f"tree_kind must be one of {TREE_KINDS}, not {config.tree_kind!r}")


class GZ2Network(nn.Module):
    """Base of galmorph's networks: ``normalize`` in, ``finish`` out.

    Subclasses call :meth:`_init_io` in ``__init__`` and define
    ``forward_features`` and ``forward_head``; ``forward`` chains them.
    """

    def _init_io(self, config):
        self.out = TreeNormalize(config.tree_kind) if config.output == "tree" else nn.Sigmoid()
        # Not persistent: the statistics live in the config, not the weights.
        self.register_buffer("input_mean", torch.tensor(config.input_mean).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("input_std", torch.tensor(config.input_std).view(1, 3, 1, 1),
                             persistent=False)

    def normalize(self, x):
        """(B, 3, H, W) images in [0, 1] -> normalised by the config's mean and std."""
        return (x - self.input_mean) / self.input_std

    def to_output(self, logits):
        """(B, 37) logits -> fractions in [0, 1], float32 even under bf16 autocast, so
        fractions are comparable across precisions."""
        return self.out(logits.float())

    def forward(self, x):  # (B, 3, H, W) -> (B, 37)
        return self.forward_head(self.forward_features(x))

    def forward_details(self, x):
        """``(outputs (1, B, 37), pooled features (B, F))`` in one pass: what
        :mod:`galmorph.trust` reads (an ensemble returns one output row per member)."""
        features = self.forward_features(x)                     # (B, F)
        return self.forward_head(features).unsqueeze(0), features
