"""pooledu inside PyTorch networks: autograd functions, ``torch.nn`` modules, :func:`swap_pooling`.

``pooledu.torch.functional`` has ``torch.nn.functional``'s pooling functions
(same names, arguments and defaults) computed by pooledu's kernels, forward
and backward; this package re-exports them with the ``torch.nn`` modules
that call them (``pooledu.torch.MaxPool2d`` is a ``torch.nn.MaxPool2d``
whose forward is pooledu's) and :func:`swap_pooling`, which moves a whole
model onto pooledu's kernels. CPU tensors are read and written through NumPy
views without copies, CUDA tensors through the CUDA backend.

Needs PyTorch (``pip install "pooledu[torch]"``); the rest of pooledu does not.

Examples
--------
>>> import torch
>>> from pooledu.torch import swap_pooling
>>> net = torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.AdaptiveMaxPool2d(1))
>>> x = torch.randn(1, 3, 8, 8)
>>> expected = net(x)
>>> bool(torch.equal(swap_pooling(net)(x), expected))
True
"""

try:
    import torch  # noqa: F401  (the real PyTorch: imports inside pooledu are absolute)
except ImportError as err:
    raise ImportError('pooledu.torch needs PyTorch: pip install "pooledu[torch]"') from err

from .functional import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d,
                         adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d,
                         avg_pool1d, avg_pool2d, avg_pool3d, fractional_max_pool2d, lp_pool1d,
                         lp_pool2d, max_pool1d, max_pool2d, max_pool3d, max_unpool2d)
from .modules import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
                      AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d,
                      AvgPool2d, AvgPool3d, FractionalMaxPool2d, LPPool1d, LPPool2d, MaxPool1d,
                      MaxPool2d, MaxPool3d, MaxUnpool2d, swap_pooling)

FUNCTIONS = ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
             "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
             "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
             "lp_pool1d", "lp_pool2d", "fractional_max_pool2d", "max_unpool2d")
MODULES = ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "LPPool1d", "LPPool2d", "FractionalMaxPool2d", "MaxUnpool2d")
__all__ = list(FUNCTIONS + MODULES) + ["swap_pooling"]
