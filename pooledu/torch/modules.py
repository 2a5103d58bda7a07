"""``torch.nn``'s pooling modules on pooledu's kernels, and :func:`swap_pooling`.

Each module here subclasses its ``torch.nn`` namesake and overrides only
``forward``, which calls the function of the same name in
:mod:`pooledu.torch.functional` with the same arguments PyTorch's forward
passes. Everything else (constructor, attributes, ``extra_repr``,
``state_dict``, hooks) is PyTorch's own, so a pooledu module is configured,
printed and saved exactly like the one it stands for.
"""

import warnings

from torch import nn

from . import functional as F


class MaxPool1d(nn.MaxPool1d):
    """``torch.nn.MaxPool1d`` running :func:`pooledu.torch.functional.max_pool1d`."""

    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` running :func:`pooledu.torch.functional.max_pool2d`.

    Examples
    --------
    >>> MaxPool2d(3, 2, 1)
    MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)
    >>> import torch
    >>> MaxPool2d(2)(torch.arange(16.).reshape(1, 1, 4, 4)).flatten()
    tensor([ 5.,  7., 13., 15.])
    """

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool3d(nn.MaxPool3d):
    """``torch.nn.MaxPool3d`` running :func:`pooledu.torch.functional.max_pool3d`."""

    def forward(self, input):
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool1d(nn.AvgPool1d):
    """``torch.nn.AvgPool1d`` running :func:`pooledu.torch.functional.avg_pool1d`."""

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(nn.AvgPool2d):
    """``torch.nn.AvgPool2d`` running :func:`pooledu.torch.functional.avg_pool2d`."""

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AvgPool3d(nn.AvgPool3d):
    """``torch.nn.AvgPool3d`` running :func:`pooledu.torch.functional.avg_pool3d`."""

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool1d(nn.AdaptiveAvgPool1d):
    """``torch.nn.AdaptiveAvgPool1d`` running :func:`pooledu.torch.functional.adaptive_avg_pool1d`."""

    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``torch.nn.AdaptiveAvgPool2d`` running :func:`pooledu.torch.functional.adaptive_avg_pool2d`."""

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveAvgPool3d(nn.AdaptiveAvgPool3d):
    """``torch.nn.AdaptiveAvgPool3d`` running :func:`pooledu.torch.functional.adaptive_avg_pool3d`."""

    def forward(self, input):
        return F.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool1d(nn.AdaptiveMaxPool1d):
    """``torch.nn.AdaptiveMaxPool1d`` running :func:`pooledu.torch.functional.adaptive_max_pool1d`."""

    def forward(self, input):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(nn.AdaptiveMaxPool2d):
    """``torch.nn.AdaptiveMaxPool2d`` running :func:`pooledu.torch.functional.adaptive_max_pool2d`."""

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool3d(nn.AdaptiveMaxPool3d):
    """``torch.nn.AdaptiveMaxPool3d`` running :func:`pooledu.torch.functional.adaptive_max_pool3d`."""

    def forward(self, input):
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class LPPool1d(nn.LPPool1d):
    """``torch.nn.LPPool1d`` running :func:`pooledu.torch.functional.lp_pool1d`."""

    def forward(self, input):
        return F.lp_pool1d(input, float(self.norm_type), self.kernel_size, self.stride,
                           self.ceil_mode)


class LPPool2d(nn.LPPool2d):
    """``torch.nn.LPPool2d`` running :func:`pooledu.torch.functional.lp_pool2d`."""

    def forward(self, input):
        return F.lp_pool2d(input, float(self.norm_type), self.kernel_size, self.stride,
                           self.ceil_mode)


class FractionalMaxPool2d(nn.FractionalMaxPool2d):
    """``torch.nn.FractionalMaxPool2d`` running :func:`pooledu.torch.functional.fractional_max_pool2d`
    (with the module's ``_random_samples`` buffer, when it has one)."""

    def forward(self, input):
        return F.fractional_max_pool2d(input, self.kernel_size, self.output_size,
                                       self.output_ratio, self.return_indices,
                                       _random_samples=self._random_samples)


class MaxUnpool2d(nn.MaxUnpool2d):
    """``torch.nn.MaxUnpool2d`` running :func:`pooledu.torch.functional.max_unpool2d`."""

    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)


# torch.nn's class -> pooledu's; every pooledu module above, once
SWAPS = {cls.__base__: cls for cls in (
    MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
    AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
    LPPool1d, LPPool2d, FractionalMaxPool2d, MaxUnpool2d)}

# every torch.nn pooling module derives from one of these (their private bases)
_TORCH_POOLING = tuple(getattr(nn.modules.pooling, name) for name in (
    "_MaxPoolNd", "_AvgPoolNd", "_AdaptiveAvgPoolNd", "_AdaptiveMaxPoolNd", "_LPPoolNd",
    "_MaxUnpoolNd", "FractionalMaxPool2d", "FractionalMaxPool3d"))


def swap_pooling(model):
    """Run every ``torch.nn`` pooling module of ``model`` on pooledu's kernels; returns ``model``.

    In place and recursively (``model`` itself too, if it is a pooling
    module), each module whose class is exactly one of ``torch.nn``'s pooling
    classes with a pooledu version becomes an instance of that version: its
    class changes and nothing else, so its settings, buffers, hooks and the
    places that refer to it stay as they were. Modules pooledu has no version
    of (such as ``MaxUnpool3d``, ``LPPool3d``, ``FractionalMaxPool3d``), and
    subclasses of PyTorch's pooling modules, whose ``forward`` may be their
    own, keep PyTorch's kernels and are named in one ``UserWarning``. A
    pooling function called inside some module's ``forward`` (such as
    ``torch.nn.functional.adaptive_avg_pool2d``) is not a module, and stays.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    model : torch.nn.Module
        The same object.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1))
    >>> swap_pooling(net)[1].__class__.__module__
    'pooledu.torch.modules'
    >>> net[1]
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"swap_pooling: model must be a torch.nn.Module, "
                        f"got {type(model).__name__}")
    left = []
    for name, module in model.named_modules():
        swap = SWAPS.get(type(module))
        if swap is not None:
            module.__class__ = swap
        elif isinstance(module, _TORCH_POOLING) and type(module) not in SWAPS.values():
            left.append(f"{name or '(the model)'} ({type(module).__name__})")
    if left:
        warnings.warn(f"swap_pooling: {len(left)} pooling module(s) keep PyTorch's kernels, "
                      f"pooledu has no version of their classes: {', '.join(left)}", stacklevel=2)
    return model
