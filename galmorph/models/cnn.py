"""The paper's proof-of-concept convolutional network.

Three convolutions (7x7, 5x5, 3x3; padding 1, stride 1), each followed by a
ReLU and 2x2 max-pooling, then ``Linear(2592, 256)`` + ReLU, dropout,
``Linear(256, 37)`` and a sigmoid. On 80x80 inputs the maps shrink
80 -> 76 -> 38 -> 36 -> 18 -> 18 -> 9, so with 32 channels in the last
convolution the flattened features number exactly 9 * 9 * 32 = 2,592.

The sigmoid keeps every output in [0, 1] but does not make the answers obey
the GZ2 tree; ``output="tree"`` applies :func:`~galmorph.models.tree.tree_normalize`
instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from galmorph import schema
from galmorph.models._base import GZ2Network, check_output

__all__ = ["CNNConfig", "GalaxyCNN"]


@dataclass
class CNNConfig:
    """Hyper-parameters of :class:`GalaxyCNN` (all plain data, JSON-able).

    Attributes
    ----------
    name : str
        Always ``"cnn"``; stored so that ``asdict(config)`` rebuilds the model.
    channels : tuple of 3 int
        Output channels of the 7x7, 5x5 and 3x3 convolutions.
    kernel_sizes : tuple of 3 int
    hidden : int
        Width of the hidden dense layer.
    dropout : float
        Dropout probability before the output layer.
    input_size : int
        Side of the square input images, pixels (80 in the paper).
    num_outputs : int
        37 for the GZ2 answers.
    output : {"sigmoid", "tree"}
        Output activation.
    tree_kind : {"relu", "softmax"}
        Normalisation used when ``output="tree"``.
    input_mean, input_std : tuple of 3 float
        Per-channel normalisation applied inside the model to inputs in [0, 1]
        (callers never normalise). The defaults (0, 1) leave inputs unchanged,
        as in the paper.
    """

    name: str = "cnn"
    channels: tuple = (32, 64, 32)
    kernel_sizes: tuple = (7, 5, 3)
    hidden: int = 256
    dropout: float = 0.5
    input_size: int = 80
    num_outputs: int = schema.N_ANSWERS
    output: str = "sigmoid"
    tree_kind: str = "relu"
    input_mean: tuple = (0.0, 0.0, 0.0)
    input_std: tuple = (1.0, 1.0, 1.0)

    def __post_init__(self):
        # Configs come back from JSON/checkpoints with lists; keep tuples.
        for f in ("channels", "kernel_sizes", "input_mean", "input_std"):
            setattr(self, f, tuple(getattr(self, f)))
        if self.name != "cnn":
            raise ValueError(f"CNNConfig.name must be 'cnn', not {self.name!r}")
        if len(self.channels) != 3 or len(self.kernel_sizes) != 3:
            raise ValueError("channels and kernel_sizes need exactly 3 entries (one per convolution)")
        check_output(self)
        if self.feature_size() < 1:
            raise ValueError(f"input_size={self.input_size} is too small for kernels "
                             f"{self.kernel_sizes}: the feature maps vanish")

    def feature_size(self):
        """Side of the last feature map for ``input_size`` inputs (9 for 80 px)."""
        side = self.input_size
        for k in self.kernel_sizes:
            side = (side + 2 * 1 - k + 1) // 2  # conv (padding 1, stride 1), then 2x2 pool
        return side

    @property
    def flat_features(self):
        """Number of flattened features entering the dense layers (2,592 for 80 px)."""
        return self.channels[-1] * self.feature_size() ** 2


class GalaxyCNN(GZ2Network):
    """The proof-of-concept CNN; see the module docstring.

    Parameters
    ----------
    config : CNNConfig, optional

    Examples
    --------
    >>> import torch
    >>> model = GalaxyCNN(CNNConfig())
    >>> model(torch.rand(2, 3, 80, 80)).shape
    torch.Size([2, 37])
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = config = config or CNNConfig()
        layers, c_in = [], 3
        for c_out, k in zip(config.channels, config.kernel_sizes):
            layers += [nn.Conv2d(c_in, c_out, k, stride=1, padding=1), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(config.flat_features, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.fc2 = nn.Linear(config.hidden, config.num_outputs)
        self._init_io(config)

    def forward_features(self, x):
        """(B, 3, H, W) images in [0, 1] -> (B, 2592) flattened features."""
        return torch.flatten(self.features(self.normalize(x)), 1)

    def forward_head(self, features):
        """(B, 2592) features -> (B, 37) fractions in [0, 1]."""
        h = torch.relu(self.fc1(features))
        return self.to_output(self.fc2(self.dropout(h)))
