"""Where an op runs: NumPy arrays on the CPU (``cpu.py``), device arrays on the GPU (``cuda.py``).

A public function asks :func:`backend_for` where its array arguments live
and gets a :class:`Backend`: a module of kernels with ``cpu.py``'s names and
signatures, plus the few array operations the public functions need
(allocate, make contiguous, check indices). The function body is then the
same for both::

    be = backend_for(op, input=x)                # TypeError for anything else, or a mix
    y = be.empty(shape, x.dtype)                 # np.empty, or cuda.device_array
    kernel("max_pool2d", be)(x3, y, idx, *win)   # the CPU schedule's, or a CUDA launch

(``dispatch.kernel`` picks the kernel: on the host, the active CPU schedule's.)

Device arrays are Numba device arrays and any object exposing
``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors); they are
used in place, never copied to the host, and results come back as Numba
device arrays. ``cuda.py`` (and with it numba-cuda) is imported only when a
device array arrives, so pooledu itself never needs a GPU.
"""

import functools

import numpy as np

from . import cpu


class Backend:
    """The kernels of one device, plus the array operations the public functions need there.

    ``kernels`` is a module (or a :class:`KernelTable` of modules) with ``cpu.py``'s
    kernel names and signatures;
    ``dispatch.kernel`` looks kernels up there (on the host, in the active
    CPU schedule instead).
    """

    def __init__(self, name, kernels, asarray, empty, contiguous, stray_index, first_outside,
                 from_host):
        self.name = name
        self.kernels = kernels
        self.asarray = asarray          # accepted array -> this backend's array type, no copy
        self.empty = empty              # (shape, dtype) -> uninitialised C-ordered array
        self.contiguous = contiguous    # array -> C-contiguous array, copied only if needed
        self.stray_index = stray_index  # indices, window -> flat position of the first bad one
        self.first_outside = first_outside  # a, lo, hi -> position of the first entry outside
        self.from_host = from_host      # small host array -> this backend's (a copy on a device)

    def __repr__(self):
        return f"Backend({self.name!r})"


def _stray_index(idx, volumes, D, H, W, depth, rows, cols):
    """Flat position of the first index the gather cannot see, or None.

    ``idx`` is viewed as ``volumes``, (N, C, OD, OH, OW): unit axes added,
    never a copy, whatever its memory layout. Channels-last indices are read in
    their own memory order (``cpu.stray_rows``).
    """
    N, C, OD, OH, OW = volumes
    last = np.moveaxis(idx.reshape(volumes), 1, -1)  # (N, OD, OH, OW, C)
    if not idx.flags.c_contiguous and last.flags.c_contiguous:
        # channels-last indices: checked in their memory order, and searched plane by
        # plane (slowly) only when one is bad
        bad_rows = np.empty(N * OD * OH, np.bool_)
        cpu.stray_rows(last, bad_rows, D, H, W, depth, rows, cols)
        if not bad_rows.any():
            return None
    first = np.empty(N * C, np.int64)  # per (n, c) volume
    cpu.stray_indices(idx.reshape(volumes), first, D, H, W, depth, rows, cols)
    bad = np.flatnonzero(first >= 0)
    return None if bad.size == 0 else int(bad[0] * OD * OH * OW + first[bad[0]])


def _first_outside(a, lo, hi):
    """Flat position (row-major) of the first entry of ``a`` outside [lo, hi), or None:
    one parallel pass (``cpu.outside_runs``) over ``a`` made contiguous."""
    first = np.empty(min(a.size, 256), np.int64)  # runs enough to balance the threads
    cpu.outside_runs(np.ascontiguousarray(a).reshape(a.size), lo, hi, first)
    bad = first[first >= 0]
    return None if bad.size == 0 else int(bad[0])


# The host's kernels are the reference schedules; dispatch.kernel swaps in the
# active CPU schedule (fast by default) where it defines the kernel.
CPU = Backend("cpu", cpu, asarray=np.asarray, empty=np.empty,
              contiguous=np.ascontiguousarray, stray_index=_stray_index,
              first_outside=_first_outside, from_host=np.ascontiguousarray)


def is_device_array(x):
    """True for a Numba device array or any object exposing ``__cuda_array_interface__``."""
    if isinstance(x, np.ndarray):
        return False
    # Numba's device arrays (also the simulator's, which lack the interface)
    # carry __cuda_ndarray__; PyTorch CPU tensors raise AttributeError on the
    # interface, so hasattr is False for them.
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


class KernelTable:
    """Kernels found by name in several modules, the first that has the name winning.

    >>> import types
    >>> table = KernelTable(types.SimpleNamespace(a=1), types.SimpleNamespace(a=2, b=3))
    >>> table.a, table.b
    (1, 3)
    """

    def __init__(self, *modules):
        self.modules = modules

    def __getattr__(self, name):
        if name.startswith("__"):  # Python's own probes (copy, pickle, ...) are no kernels
            raise AttributeError(name)
        for module in self.modules:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"no kernel {name!r} in {[m.__name__ for m in self.modules]}")


@functools.cache
def cuda_backend():
    """The CUDA backend: the kernels of ``cuda.py`` (the 2D core), ``cuda_family.py`` and
    ``cuda_conv.py``, and ``cuda.py``'s array helpers, imported on first use."""
    try:
        from . import cuda, cuda_conv, cuda_family
    except ImportError as err:
        raise ImportError("pooledu needs numba-cuda for device arrays: "
                          "pip install 'pooledu[cuda]'") from err
    kernels = KernelTable(cuda, cuda_family, cuda_conv)
    return Backend("cuda", kernels, asarray=cuda.as_device_array, empty=cuda.empty,
                   contiguous=cuda.contiguous, stray_index=cuda.stray_index,
                   first_outside=cuda.first_outside, from_host=cuda.from_host)


def backend_of(a):
    """The backend of an array that :func:`backend_for` already accepted."""
    return CPU if isinstance(a, np.ndarray) else cuda_backend()


def backend_for(op, **arrays):
    """The backend all the named ``arrays`` live on.

    Raises TypeError, naming ``op`` and the argument, for an argument that is
    neither a NumPy array nor a device array, and for a mix of host and
    device arrays (pooledu never copies between them behind your back).

    >>> backend_for("max_pool2d", input=np.zeros((1, 2, 2)))
    Backend('cpu')
    """
    where = {}
    for name, a in arrays.items():
        try:
            on_device = is_device_array(a)
        except Exception as err:  # PyTorch: RuntimeError for a CUDA tensor that requires grad
            raise TypeError(f"{op}: {name} is a {type(a).__name__} that does not share its CUDA "
                            f"memory ({err}); for a PyTorch tensor, pass tensor.detach()") from None
        if on_device:
            where[name] = "a CUDA device"
        elif isinstance(a, np.ndarray):
            where[name] = "the host (NumPy)"
        else:
            hint = ""
            if type(a).__module__.startswith("torch"):  # a CPU tensor (CUDA ones pass above)
                hint = ("; for a PyTorch CPU tensor pass tensor.numpy() (a view, no copy), "
                        "or use pooledu.torch, whose pooling functions and modules take "
                        "tensors and support autograd")
            raise TypeError(f"{op}: {name} must be a NumPy array or a CUDA device array, "
                            f"got {type(a).__name__}{hint}")
    if len(set(where.values())) > 1:
        found = ", ".join(f"{name} on {place}" for name, place in where.items())
        raise TypeError(f"{op}: arrays must all be on the host or all on one CUDA device, "
                        f"got {found}; move them with numba.cuda.to_device or .copy_to_host()")
    if "a CUDA device" in where.values():
        return cuda_backend()
    return CPU
