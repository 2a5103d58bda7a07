"""One line on stderr when a pooledu kernel is really compiled, so a first call does not look like a hang.

Numba compiles a kernel on its first call with new argument types and keeps
the machine code in its on-disk cache (``cache=True``); a later process loads
it in milliseconds. Numba broadcasts a ``"numba:compile"`` event only when it
compiles, never on a cache hit, so a listener on that event says exactly when
the wait is real. The line names the kernel once per process; kernels that a
kernel compiles on its way (its helpers) are part of the same wait and get no
line of their own.

The messages are on by default. ``POOLEDU_QUIET=1`` in the environment or
:func:`set_compile_messages` turns them off.
"""

import os
import sys

from numba.core import event

ENV_QUIET = "POOLEDU_QUIET"


class _CompileAnnouncer(event.Listener):
    """Prints one line when an outermost pooledu kernel starts compiling."""

    def __init__(self):
        self.enabled = os.environ.get(ENV_QUIET, "") in ("", "0")
        self.depth = 0        # compiles nest: a kernel compiles the helpers it calls
        self.announced = set()
        self.stream = None    # None: sys.stderr at the time of the message

    def on_start(self, event):
        self.depth += 1
        if self.depth > 1 or not self.enabled:
            return
        function = getattr(event.data["dispatcher"], "py_func", None)
        module = getattr(function, "__module__", "") or ""
        if not module.startswith("pooledu."):
            return  # a user's own @njit function is theirs to announce
        name = f"{module.removeprefix('pooledu.')}.{function.__name__}"
        if name in self.announced:
            return  # the same kernel for other argument types: one line is enough
        self.announced.add(name)
        print(f"pooledu: compiling {name} (first call only; Numba caches the machine code; "
              f"{ENV_QUIET}=1 silences this)", file=self.stream or sys.stderr, flush=True)

    def on_end(self, event):
        self.depth -= 1


_ANNOUNCER = _CompileAnnouncer()
event.register("numba:compile", _ANNOUNCER)


def set_compile_messages(enabled):
    """Turn the one-line compilation messages on or off; returns the previous setting.

    Parameters
    ----------
    enabled : bool
        True prints a line on stderr when a pooledu kernel compiles (not when
        it loads from Numba's cache); False prints nothing.

    Examples
    --------
    >>> import pooledu
    >>> previous = pooledu.set_compile_messages(False)
    >>> pooledu.set_compile_messages(previous)
    False
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"set_compile_messages: enabled must be True or False, got {enabled!r}")
    previous, _ANNOUNCER.enabled = _ANNOUNCER.enabled, enabled
    return previous
