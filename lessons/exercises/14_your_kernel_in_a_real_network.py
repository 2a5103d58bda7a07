"""Lesson 14, exercises: your kernel inside a real network.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 14`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/14_your_kernel_in_a_real_network.py.
"""


def scatter_backward(g, idx, shape):
    """scatter_backward(g, idx, shape): max pooling's backward as PyTorch's autograd runs
    it, each gradient added at its stored index."""
    raise NotImplementedError("your code here")


# Predict: ResNet's 3x3/2 max pooling with padding 1, after the stem: the output
# side for a 112x112 map?
PREDICT_STEM_POOL_SIDE = None
