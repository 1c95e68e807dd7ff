"""The server process's glibc heap: how many heaps its threads share, and handing freed memory back.

Both go through glibc's allocator controls (``mallopt``, ``malloc_trim``); on another C library, or another system,
they do nothing and say so (False).
"""

from __future__ import annotations

import ctypes
import os
import sys

MALLOC_ARENAS = 2  # glibc heaps ("arenas") the server's threads share; glibc's default allows 8 per core
_M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    """glibc, or None where the process runs on another C library (musl has no ``libc.so.6``) or system."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(n: int = MALLOC_ARENAS) -> bool:
    """Let the server's threads share ``n`` glibc heaps; True if the limit was set.

    glibc gives a new thread a heap of its own while it has fewer than 8 per core, and memory a thread frees
    stays in its heap: every session's script thread and the scan worker keep the peak of their own work. While
    the server scanned an uploaded ladder beside the shipped one it peaked at 946 to 1,048 MB in four runs with
    this limit, and at 1,039 and 1,150 MB in two without it (benchmarks/README.md, memory: the runs spread by about
    200 MB). Set before the sessions' threads start (``ui/warm.py``), it applies to every heap made later. Not when
    ``MALLOC_ARENA_MAX`` already says what to do."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, n))


def release_memory() -> bool:
    """Return freed heap memory to the system (glibc's ``malloc_trim``); False where there is none.

    A pass frees its models and activations when it ends, but glibc keeps the worker thread's freed heap mapped:
    measured with the CPU-only torch, a quick pass of three models left the process 280 MB larger than before it,
    and 30 MB after the trim (benchmarks/README.md, memory).
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
