"""Layers of pooledu.nn: every backward against finite differences; loss and Adam against PyTorch."""

import numpy as np
import pytest
import torch

from pooledu import nn

from finite_differences import check_gradient


def layers(rng):
    f64 = np.float64
    return {
        "conv": (nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=rng, dtype=f64), (2, 2, 5, 6)),
        "relu": (nn.ReLU(), (2, 2, 3, 3)),
        "maxpool": (nn.MaxPool2d(2), (2, 2, 5, 4)),
        "avgpool": (nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 5, 5)),
        "broadcast": (nn.MaxBroadcastPool2d(2), (2, 2, 5, 4)),
        "attention": (nn.AttentionPool2d(3, key_dim=2, rng=rng, dtype=f64), (2, 3, 3, 3)),
        "attention_no_key": (nn.AttentionPool2d(3, rng=rng, dtype=f64), (2, 3, 3, 3)),
        "gap": (nn.GlobalAvgPool2d(), (2, 3, 3, 4)),
        "flatten": (nn.Flatten(), (2, 2, 2, 3)),
        "linear": (nn.Linear(5, 4, rng=rng, dtype=f64), (3, 5)),
        "sequential": (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=f64), nn.ReLU(),
                                     nn.MaxPool2d(2), nn.Flatten(),
                                     nn.Linear(8, 3, rng=rng, dtype=f64)), (2, 1, 4, 4)),
        "residual": (nn.Residual(nn.Sequential(nn.ReLU(), nn.Conv2d(2, 2, 3, stride=2, padding=1,
                                                                    rng=rng, dtype=f64)),
                                 nn.AvgPool2d(2)), (2, 2, 4, 4)),
    }


@pytest.mark.parametrize("name", list(layers(np.random.default_rng(0))))
def test_layer_backward_matches_finite_differences(name):
    rng = np.random.default_rng(3)
    layer, shape = layers(rng)[name]
    x = rng.standard_normal(shape)
    g = rng.standard_normal(layer.forward(x).shape)

    def loss():
        return float(np.sum(layer.forward(x) * g))

    loss()
    gx = layer.backward(g)
    grads = [p.grad.copy() for p in layer.parameters()]
    check_gradient(loss, x, gx, samples=12)
    for p, grad in zip(layer.parameters(), grads):
        check_gradient(loss, p.data, grad, samples=6)


def test_softmax_cross_entropy_matches_torch():
    rng = np.random.default_rng(0)
    z = 10 * rng.standard_normal((6, 10))
    y = rng.integers(0, 10, 6)
    loss, grad = nn.softmax_cross_entropy(z, y)
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, torch.tensor(y))
    lt.backward()
    assert abs(loss - lt.item()) < 1e-12
    np.testing.assert_allclose(grad, zt.grad.numpy(), atol=1e-14)


def test_adam_matches_torch():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(5)
    p = nn.Parameter(w.copy())
    wt = torch.tensor(w.copy(), requires_grad=True)
    opt, opt_t = nn.Adam([p], lr=0.1), torch.optim.Adam([wt], lr=0.1)
    for step in range(3):
        g = rng.standard_normal(5)
        p.grad = g
        wt.grad = torch.tensor(g)
        opt.step()
        opt_t.step()
    np.testing.assert_allclose(p.data, wt.detach().numpy(), rtol=1e-12)


def test_summary_counts_parameters_and_flops():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64, 10))
    s = nn.summary(model, (1, 8, 8))
    assert [r["params"] for r in s["rows"]] == [40, 0, 0, 0, 650]
    # conv: 2 FLOPs x 9 taps x 256 outputs; ReLU: 256; pool: 4 taps x 64; linear: 2 x 640
    assert [r["flops"] for r in s["rows"]] == [4608, 256, 256, 0, 1280]
    assert s["params"] == sum(p.data.size for p in model.parameters())
    assert "total" in nn.format_summary(s)


def test_fit_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((128, 1, 6, 6)).astype(np.float32)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(int)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(36, 2, rng=rng))
    history = nn.fit(model, X, y, epochs=30, lr=1e-2, rng=rng)
    assert history["loss"][-1] < 0.25 * history["loss"][0]
    assert nn.accuracy(model, X, y) > 0.9
