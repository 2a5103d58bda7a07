"""Small trainable layers on top of pooledu's kernels, for the experiments.

Each layer has ``forward(x)`` (keeping what its backward needs) and
``backward(grad)`` (returning the gradient for its input and filling its
parameters' ``.grad``), in the spirit of micrograd: the whole of training is in
this file. Convolutions and pooling run on pooledu's Numba kernels; the
linear layer and the loss are plain NumPy matrix algebra.

``summary(model, input_shape)`` counts parameters and FLOPs per layer, with
one multiply-add counted as 2 FLOPs and one comparison or addition of a
pooling window (or one ReLU) as 1 FLOP.
"""

import math
import time

import numpy as np

from .conv import conv2d, conv2d_backward
from .extra import (attention_pool2d, attention_pool2d_backward, max_broadcast_pool2d,
                    max_broadcast_pool2d_backward)
from .geometry import as_tuple, pool_window
from .ops import (avg_pool2d, avg_pool2d_backward, global_avg_pool2d,
                  global_avg_pool2d_backward, max_pool2d, max_pool2d_backward)


class Parameter:
    """A trainable array and its gradient (same shape, filled by ``backward``)."""

    def __init__(self, data):
        self.data = data
        self.grad = np.zeros_like(data)


class Layer:
    """Base class: no parameters, no FLOPs unless a subclass says otherwise."""

    def parameters(self):
        return []

    def flops(self, in_shape, out_shape):
        """FLOPs of one forward pass on one example of ``in_shape`` (no batch)."""
        return 0

    def __repr__(self):
        return type(self).__name__ + "()"


# ---------------------------------------------------------------------------
# layers with parameters

class Conv2d(Layer):
    """Convolution with He-initialised weights (std sqrt(2 / fan_in)) and zero bias."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 rng=None, dtype=np.float32):
        rng = np.random.default_rng() if rng is None else rng
        self.stride, self.padding = stride, padding
        k = as_tuple(kernel_size, "kernel_size", "Conv2d")
        fan_in = in_channels * k[0] * k[1]
        w = rng.standard_normal((out_channels, in_channels) + k) * math.sqrt(2.0 / fan_in)
        self.weight = Parameter(w.astype(dtype))
        self.bias = Parameter(np.zeros(out_channels, dtype))

    def parameters(self):
        return [self.weight, self.bias]

    def forward(self, x):
        self.x = x
        return conv2d(x, self.weight.data, self.bias.data, self.stride, self.padding)

    def backward(self, g):
        gx, self.weight.grad, self.bias.grad = conv2d_backward(
            g, self.x, self.weight.data, self.stride, self.padding)
        return gx

    def flops(self, in_shape, out_shape):
        O, C, kh, kw = self.weight.data.shape
        return 2 * C * kh * kw * int(np.prod(out_shape))

    def __repr__(self):
        O, C, kh, kw = self.weight.data.shape
        return f"Conv2d({C}, {O}, {kh}x{kw}, stride={self.stride}, padding={self.padding})"


class Linear(Layer):
    """y = x W^T + b, W initialised with std sqrt(1 / fan_in)."""

    def __init__(self, in_features, out_features, rng=None, dtype=np.float32):
        rng = np.random.default_rng() if rng is None else rng
        w = rng.standard_normal((out_features, in_features)) / math.sqrt(in_features)
        self.weight = Parameter(w.astype(dtype))
        self.bias = Parameter(np.zeros(out_features, dtype))

    def parameters(self):
        return [self.weight, self.bias]

    def forward(self, x):
        self.x = x
        return x @ self.weight.data.T + self.bias.data

    def backward(self, g):
        self.weight.grad = g.T @ self.x
        self.bias.grad = g.sum(axis=0)
        return g @ self.weight.data

    def flops(self, in_shape, out_shape):
        return 2 * self.weight.data.size

    def __repr__(self):
        O, I = self.weight.data.shape
        return f"Linear({I}, {O})"


class AttentionPool2d(Layer):
    """Learned attention readout (N, C, H, W) -> (N, C); see :func:`pooledu.attention_pool2d`.

    The query starts small, so training starts close to global average pooling.
    """

    def __init__(self, channels, key_dim=None, rng=None, dtype=np.float32):
        rng = np.random.default_rng() if rng is None else rng
        D = channels if key_dim is None else key_dim
        self.query = Parameter((0.01 * rng.standard_normal(D)).astype(dtype))
        self.key_weight = None
        if key_dim is not None:
            w = rng.standard_normal((D, channels)) / math.sqrt(channels)
            self.key_weight = Parameter(w.astype(dtype))

    def parameters(self):
        return [self.query] + ([self.key_weight] if self.key_weight is not None else [])

    def _kw(self):
        return None if self.key_weight is None else self.key_weight.data

    def forward(self, x):
        self.x = x
        return attention_pool2d(x, self.query.data, self._kw())

    def backward(self, g):
        gx, self.query.grad, gk = attention_pool2d_backward(g, self.x, self.query.data, self._kw())
        if self.key_weight is not None:
            self.key_weight.grad = gk
        return gx

    def flops(self, in_shape, out_shape):
        C, H, W = in_shape
        D = self.query.data.shape[0]
        extra = 2 * D * C if self.key_weight is not None else 0
        return extra + 2 * C * H * W + 3 * H * W + 2 * C * H * W  # scores, softmax, readout


# ---------------------------------------------------------------------------
# layers without parameters

class ReLU(Layer):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, g):
        return g * self.mask

    def flops(self, in_shape, out_shape):
        return int(np.prod(in_shape))


class _Pool(Layer):
    """A k x k window pooling layer; FLOPs are one per tap of every output window."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def flops(self, in_shape, out_shape):
        k = pool_window(type(self).__name__, in_shape[-2:], self.kernel_size).kernel
        return k[0] * k[1] * int(np.prod(out_shape))

    def __repr__(self):
        return f"{type(self).__name__}({self.kernel_size})"


class MaxPool2d(_Pool):
    def forward(self, x):
        self.shape = x.shape
        y, self.idx = max_pool2d(x, self.kernel_size, self.stride, self.padding,
                                 return_indices=True)
        return y

    def backward(self, g):
        return max_pool2d_backward(g, self.idx, self.shape, self.kernel_size, self.stride,
                                   self.padding)


class AvgPool2d(_Pool):
    def forward(self, x):
        self.shape = x.shape
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def backward(self, g):
        return avg_pool2d_backward(g, self.shape, self.kernel_size, self.stride, self.padding)


class MaxBlurPool2d(_Pool):
    """Anti-aliased max pooling (Zhang 2019): k x k max at stride 1, binomial blur, stride 2."""

    def forward(self, x):
        from .antialias import max_blur_pool2d
        self.shape = x.shape
        y, self.idx = max_blur_pool2d(x, self.kernel_size, return_indices=True)
        return y

    def backward(self, g):
        from .antialias import max_blur_pool2d_backward
        return max_blur_pool2d_backward(g, self.idx, self.shape, self.kernel_size)

    def flops(self, in_shape, out_shape):
        dense = int(np.prod(in_shape))  # about one max window per input cell
        return 4 * dense + 9 * int(np.prod(out_shape))  # k^2 taps each, then the 3x3 blur


class MaxBroadcastPool2d(_Pool):
    """Every cell of each k x k window becomes the window's max; size kept."""

    def forward(self, x):
        y, self.idx = max_broadcast_pool2d(x, self.kernel_size, return_indices=True)
        return y

    def backward(self, g):
        return max_broadcast_pool2d_backward(g, self.idx, self.kernel_size)

    def flops(self, in_shape, out_shape):
        return int(np.prod(in_shape))  # each cell is compared once within its window


class GlobalAvgPool2d(Layer):
    """(N, C, H, W) -> (N, C), the mean of each plane."""

    def forward(self, x):
        self.shape = x.shape
        return global_avg_pool2d(x)

    def backward(self, g):
        return global_avg_pool2d_backward(g, self.shape)

    def flops(self, in_shape, out_shape):
        return int(np.prod(in_shape))


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W)."""

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, g):
        return g.reshape(self.shape)


class Identity(Layer):
    def forward(self, x):
        return x

    def backward(self, g):
        return g


# ---------------------------------------------------------------------------
# containers

class Sequential(Layer):
    """Layers applied in order; ``backward`` keeps ``grad_outputs``, the gradient
    arriving at each layer's output (for the gradient-flow experiment)."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, g):
        self.grad_outputs = [None] * len(self.layers)
        for i in reversed(range(len(self.layers))):
            self.grad_outputs[i] = g
            g = self.layers[i].backward(g)
        return g

    def __repr__(self):
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


class Residual(Layer):
    """y = body(x) + skip(x), the residual block; the skip defaults to the identity."""

    def __init__(self, body, skip=None):
        self.body = body
        self.skip = Identity() if skip is None else skip

    def parameters(self):
        return self.body.parameters() + self.skip.parameters()

    def forward(self, x):
        return self.body.forward(x) + self.skip.forward(x)

    def backward(self, g):
        return self.body.backward(g) + self.skip.backward(g)

    def __repr__(self):
        return f"Residual({self.body!r}, skip={self.skip!r})"


# ---------------------------------------------------------------------------
# loss, optimiser, training

def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    ``loss = mean_n (logsumexp(z[n]) - z[n, y[n]])``; the gradient is
    ``(softmax(z) - onehot(y)) / N``. The max is subtracted before exp().

    Examples
    --------
    >>> loss, grad = softmax_cross_entropy(np.zeros((1, 4)), np.array([2]))
    >>> round(float(loss), 4), grad.tolist()
    (1.3863, [[0.25, 0.25, -0.75, 0.25]])
    """
    z = logits - logits.max(axis=1, keepdims=True)
    logsum = np.log(np.exp(z).sum(axis=1))
    n = np.arange(len(labels))
    loss = float(np.mean(logsum - z[n, labels]))
    grad = np.exp(z - logsum[:, None])
    grad[n, labels] -= 1
    return loss, grad / len(labels)


def softmax(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction."""

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.parameters = list(parameters)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [np.zeros_like(p.data) for p in self.parameters]
        self.v = [np.zeros_like(p.data) for p in self.parameters]
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.parameters, self.m, self.v):
            m *= b1
            m += (1 - b1) * p.grad
            v *= b2
            v += (1 - b2) * p.grad * p.grad
            m_hat = m / (1 - b1 ** self.t)
            v_hat = v / (1 - b2 ** self.t)
            p.data -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.data.dtype)


def predict_logits(model, X, batch_size=256):
    return np.concatenate([model.forward(X[i:i + batch_size])
                           for i in range(0, len(X), batch_size)])


def accuracy(model, X, y):
    return float(np.mean(predict_logits(model, X).argmax(axis=1) == y))


def fit(model, X, y, epochs=5, batch_size=32, lr=3e-3, rng=None, progress=False, desc="train"):
    """Train ``model`` with Adam on softmax cross-entropy; returns per-epoch losses and seconds.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((64, 1, 4, 4)).astype(np.float32)
    >>> y = (X[:, 0, 0, 0] > 0).astype(int)
    >>> model = Sequential(Flatten(), Linear(16, 2, rng))
    >>> history = fit(model, X, y, epochs=20, rng=rng)
    >>> history["loss"][-1] < history["loss"][0]
    True
    """
    rng = np.random.default_rng() if rng is None else rng
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    start = time.perf_counter()
    epochs_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm
        epochs_iter = tqdm(epochs_iter, desc=desc, leave=False)
    for _ in epochs_iter:
        order = rng.permutation(len(X))
        total = 0.0
        for i in range(0, len(X), batch_size):
            batch = order[i:i + batch_size]
            loss, g = softmax_cross_entropy(model.forward(X[batch]), y[batch])
            model.backward(g.astype(X.dtype))
            opt.step()
            total += loss * len(batch)
        losses.append(total / len(X))
    return {"loss": losses, "seconds": time.perf_counter() - start}


# ---------------------------------------------------------------------------
# size and cost

def summary(model, input_shape):
    """Per-layer output shape, parameter count and forward FLOPs for one example.

    Parameters
    ----------
    model : Layer
    input_shape : tuple
        One example's shape, (C, H, W).

    Returns
    -------
    dict with ``rows`` (one dict per leaf layer: ``layer``, ``output``,
    ``params``, ``flops``), ``params`` and ``flops`` (totals).

    Examples
    --------
    >>> model = Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(64, 10))
    >>> s = summary(model, (1, 8, 8))
    >>> s["params"], s["flops"]
    (690, 6400)
    """
    rows = []

    def walk(layer, x):
        if isinstance(layer, Sequential):
            for child in layer.layers:
                x = walk(child, x)
            return x
        if isinstance(layer, Residual):
            y = walk(layer.body, x) + walk(layer.skip, x)
            rows.append({"layer": "add", "output": y.shape[1:], "params": 0,
                         "flops": int(np.prod(y.shape[1:]))})
            return y
        y = layer.forward(x)
        rows.append({"layer": repr(layer), "output": y.shape[1:],
                     "params": sum(p.data.size for p in layer.parameters()),
                     "flops": layer.flops(x.shape[1:], y.shape[1:])})
        return y

    dtype = model.parameters()[0].data.dtype if model.parameters() else np.float32
    walk(model, np.zeros((1,) + tuple(input_shape), dtype))
    return {"rows": rows, "params": sum(r["params"] for r in rows),
            "flops": sum(r["flops"] for r in rows)}


def format_summary(s):
    """``summary``'s result as a fixed-width text table."""
    lines = [f"{'layer':<44} {'output':>14} {'params':>8} {'FLOPs':>10}"]
    for r in s["rows"]:
        lines.append(f"{r['layer']:<44} {str(tuple(r['output'])):>14} "
                     f"{r['params']:>8,} {r['flops']:>10,}")
    lines.append(f"{'total':<44} {'':>14} {s['params']:>8,} {s['flops']:>10,}")
    return "\n".join(lines)
