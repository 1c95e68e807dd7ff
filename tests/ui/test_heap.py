"""ui/heap.py: the glibc heap limit of the server process."""

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO

# A child interpreter: limit the heaps (or not), start ten threads that each allocate small blocks and stay alive,
# then count glibc's heaps from malloc_stats (one "Arena N:" line each).
CHILD = textwrap.dedent("""
    import ctypes, os, sys, threading
    from ui.heap import limit_malloc_arenas
    print("limited" if sys.argv[1] == "limit" and limit_malloc_arenas() else "default", end=" ")
    hold, done = threading.Event(), []
    def work():
        done.append([ctypes.create_string_buffer(50_000) for _ in range(20)])  # below the mmap threshold: a heap
        hold.wait()
    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads: t.start()
    while len(done) < 10: pass
    r, w = os.pipe(); err = os.dup(2); os.dup2(w, 2)
    ctypes.CDLL(None).malloc_stats(); os.dup2(err, 2); os.close(w)
    print(os.read(r, 1 << 20).decode().count("Arena "))
    hold.set()
""")


def _heaps(mode: str, env: dict | None = None) -> tuple[str, int]:
    """(whether the child limited its heaps, how many it has); ``env`` entries of None are unset."""
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True,
                         cwd=str(REPO), env={k: v for k, v in {**os.environ, **(env or {})}.items()
                                             if v is not None})
    word, count = out.stdout.split()
    return word, int(count)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heaps: Linux only")
def test_the_server_threads_share_two_heaps():
    from ui.heap import MALLOC_ARENAS

    env = {"MALLOC_ARENA_MAX": None}
    word, heaps = _heaps("default", env)
    assert word == "default" and heaps > MALLOC_ARENAS  # glibc: the main thread's and one per new thread (11 here)
    assert _heaps("limit", env) == ("limited", MALLOC_ARENAS)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heaps: Linux only")
def test_a_user_setting_of_the_heap_count_is_left_alone():
    assert _heaps("limit", {"MALLOC_ARENA_MAX": "4"}) == ("default", 4)
