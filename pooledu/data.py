"""The digits data set on a larger canvas, so that translations can be studied.

scikit-learn's ``load_digits`` (1,797 handwritten digits, 8x8, values 0..16,
shipped with scikit-learn, no download) is scaled to [0, 1], upsampled 2x by
repeating pixels (16x16) and placed in the middle of a 24x24 canvas: a 4-pixel
margin on every side, room to shift a digit by up to 4 pixels in any direction
without cutting it. Training and the plain test set use the centred digits;
``shifted`` moves them.

scikit-learn is an optional dependency (``pip install pooledu[experiments]``).
"""

import numpy as np

CANVAS = 24
SCALE = 2
MARGIN = (CANVAS - 8 * SCALE) // 2  # 4 pixels on each side
MAX_SHIFT = MARGIN


def _digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the experiments need scikit-learn for the digits data set: "
                          "pip install 'pooledu[experiments]'") from None
    d = load_digits()
    return d.images / 16.0, d.target


def place(images, dy=0, dx=0):
    """Upsample (M, 8, 8) digits 2x and put them on the canvas, moved by (dy, dx) from centre.

    Returns float32 (M, 1, CANVAS, CANVAS).

    >>> place(np.ones((1, 8, 8)), dx=4)[0, 0, 4, 4:].tolist() == [0.0] * 4 + [1.0] * 16
    True
    """
    if max(abs(dy), abs(dx)) > MAX_SHIFT:
        raise ValueError(f"place: a shift of at most {MAX_SHIFT} pixels keeps the digit on "
                         f"the canvas, got dy={dy}, dx={dx}")
    big = images.repeat(SCALE, axis=1).repeat(SCALE, axis=2)  # (M, 16, 16)
    out = np.zeros((len(images), 1, CANVAS, CANVAS), np.float32)
    top, left = MARGIN + dy, MARGIN + dx
    out[:, 0, top:top + 8 * SCALE, left:left + 8 * SCALE] = big
    return out


def load(seed=0, test_fraction=0.2, n_train=None, n_test=None):
    """A fixed, seeded train/test split of the centred digits.

    Returns a dict with ``X_train``, ``y_train``, ``X_test``, ``y_test`` (images
    as float32 (M, 1, 24, 24)) and ``raw_test`` (the 8x8 test digits, for
    :func:`shifted`). ``n_train`` and ``n_test`` keep only the first examples
    of each part (quick runs); the split itself does not depend on them.
    """
    images, labels = _digits()
    order = np.random.default_rng(seed).permutation(len(images))
    split = int(round(test_fraction * len(images)))
    test, train = order[:split], order[split:]
    train, test = train[:n_train], test[:n_test]  # [:None] keeps all
    return {"X_train": place(images[train]), "y_train": labels[train],
            "X_test": place(images[test]), "y_test": labels[test],
            "raw_test": images[test]}


def shifted(raw, shift):
    """The test digits moved by ``shift`` pixels right, left, down and up.

    Returns (X, directions): X is (4, M, 1, 24, 24), one copy per direction.
    A shift of 0 gives four copies of the centred digits.
    """
    directions = [(0, shift), (0, -shift), (shift, 0), (-shift, 0)]
    return np.stack([place(raw, dy, dx) for dy, dx in directions]), directions
