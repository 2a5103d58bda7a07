"""Which kernel runs a call: the device, then the schedule, then the memory layout.

Every public function finds its kernels here, never in a schedule module
directly:

    be = backend_for(op, input=x)          # host (NumPy) or a CUDA device
    kernel("max_pool2d", be)(x3, y, ...)   # that device's kernel of that name

On the host, the kernel comes from the active CPU schedule: the fast one by
default, ``with schedule("reference"):`` for the readable loops of
``cpu.py``. An operation the fast schedule does not define runs its reference
kernel, which every operation has. On a device, the backend's own kernel
runs; an operation without one there is refused with a TypeError that names
the operation and the device. Channels-last memory (``checks.is_channels_last``)
runs the fast schedule's ``_nhwc`` kernels (``_ndhwc`` for channels_last_3d
volumes), which exist for the operations that have them.

The active schedule is a ``contextvars.ContextVar``: a ``with schedule(...)``
in one thread is never seen by another.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from . import cpu, fast
from .backend import CPU
from .checks import is_channels_last

#: The CPU schedules: the readable reference and the fast loop order (same bits).
SCHEDULES = {"fast": fast, "reference": cpu}
ACTIVE_SCHEDULE = ContextVar("pooledu_schedule", default="fast")


@contextmanager
def schedule(name):
    """Run the CPU kernels of one schedule inside a ``with`` block.

    Examples
    --------
    >>> import numpy as np, pooledu
    >>> x = np.random.default_rng(0).standard_normal((1, 8, 8))
    >>> with schedule("reference"):
    ...     slow = pooledu.max_pool2d(x, 2)
    >>> bool((slow == pooledu.max_pool2d(x, 2)).all())
    True
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule: name must be one of {sorted(SCHEDULES)}, got {name!r}")
    token = ACTIVE_SCHEDULE.set(name)
    try:
        yield
    finally:
        ACTIVE_SCHEDULE.reset(token)


def kernel(op, be=CPU):
    """The kernel ``op`` on backend ``be``, as the active schedule provides it.

    >>> kernel("attention_pool2d").__module__   # no fast version: the reference runs
    'pooledu.cpu'
    """
    if be is CPU:
        found = getattr(SCHEDULES[ACTIVE_SCHEDULE.get()], op, None) or getattr(cpu, op, None)
    else:
        found = getattr(be.kernels, op, None)
    if found is None:
        raise TypeError(f"{op}: pooledu has no {be.name} kernel for this operation yet; "
                        + ("pass NumPy arrays to run it on the CPU" if be is not CPU else
                           "it cannot run"))
    return found


def runs_channels_last(a, nd=2):
    """Whether ``a``, an array of ``nd`` spatial dimensions, runs the channels-last kernels:
    channels-last host memory (``channels_last_3d`` for nd = 3), fast schedule."""
    return is_channels_last(a, nd) and ACTIVE_SCHEDULE.get() == "fast"
