"""A real photograph through pooling: an edge map, max- and average-pooled.

Matplotlib's sample photo of Grace Hopper; the edge map is a Sobel filter
written out in NumPy; every pooled image comes from the pooledu kernels.
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np

from ..ops import avg_pool2d, max_pool2d

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def load_photo(downsample=2):
    """Matplotlib's grace_hopper.jpg as a grey float64 image in [0, 1].

    Downsampled by ``downsample`` x ``downsample`` average pooling (pooledu's).
    """
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        rgb = plt.imread(f, format="jpg").astype(np.float64) / 255.0
    grey = rgb @ np.array([0.299, 0.587, 0.114])  # (H, W), ITU-R BT.601 luma
    return avg_pool2d(grey[None], downsample)[0] if downsample > 1 else grey


def conv3x3(image, kernel):
    """Valid 3x3 cross-correlation (what CNN layers call convolution), as nine shifted sums."""
    H, W = image.shape
    out = np.zeros((H - 2, W - 2))
    for u in range(3):
        for v in range(3):
            out += kernel[u, v] * image[u:u + H - 2, v:v + W - 2]
    return out


def edge_map(image):
    """Gradient magnitude of the Sobel filters: large on edges, ~0 on flat regions."""
    return np.hypot(conv3x3(image, SOBEL_X), conv3x3(image, SOBEL_X.T))


def draw_pooled_photo(axes, sizes=(2, 4, 8)):
    """Photo and edge map in the first column; the edge map max-pooled (top row) and
    average-pooled (bottom row) with each kernel size in ``sizes`` (stride = size).

    ``axes`` is a 2 x (1 + len(sizes)) array. Returns the images drawn.
    """
    photo = load_photo()
    edges = edge_map(photo)
    vmax = np.percentile(edges, 99.5)
    images = [axes[0, 0].imshow(photo, cmap="gray", vmin=0, vmax=1),
              axes[1, 0].imshow(edges, cmap="magma", vmin=0, vmax=vmax)]
    axes[0, 0].set_title(f"photo\n{photo.shape[0]}×{photo.shape[1]}")
    axes[1, 0].set_title(f"Sobel edges\n{edges.shape[0]}×{edges.shape[1]}")
    for col, k in enumerate(sizes, start=1):
        for row, (pool, name) in enumerate(((max_pool2d, "max"), (avg_pool2d, "avg"))):
            y = pool(edges[None], k)[0]
            images.append(axes[row, col].imshow(y, cmap="magma", vmin=0, vmax=vmax,
                                                interpolation="nearest"))
            axes[row, col].set_title(f"{name} pool {k}×{k}\n→ {y.shape[0]}×{y.shape[1]}")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return images
