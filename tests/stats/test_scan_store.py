"""The scan store: keyed by content, full over quick, bounded by size (least recently used first), kill-safe."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from vggexplorer.errors import ConfigError
from vggexplorer.stats import scan_store
from vggexplorer.stats.scan_store import ScanStoreError, evict, ladder_key, lookup, scan_file, store_dir

from ..conftest import CKPT_DIR, DENSE, REPO


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(scan_store.CACHE_MB_ENV, raising=False)
    return tmp_path / "cache"


def _ladder(folder, dense=b"dense weights", pruned=b"pruned weights"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.pt").write_bytes(dense)
    (folder / "b.pt").write_bytes(pruned)
    return {"dense": folder / "a.pt", "p50": folder / "b.pt"}


def test_the_same_bytes_anywhere_give_the_same_key_and_one_changed_byte_another(tmp_path):
    here, there = _ladder(tmp_path / "here"), _ladder(tmp_path / "elsewhere" / "deeper")
    key = ladder_key(here)
    assert len(key) == 64 and int(key, 16) >= 0
    assert ladder_key(there) == key
    changed = _ladder(tmp_path / "changed", pruned=b"pruned weightz")  # one byte, in a fresh file
    assert ladder_key(changed) != key
    assert ladder_key({"dense": here["dense"], "p60": here["p50"]}) != key  # the roles are part of it
    assert ladder_key({"p50": here["p50"], "dense": here["dense"]}) != key  # and their order (dense first)


def test_a_normalization_file_beside_the_checkpoints_changes_the_key(tmp_path):
    plain = _ladder(tmp_path / "plain")
    normed = _ladder(tmp_path / "normed")
    (tmp_path / "normed" / "normalization.json").write_text('{"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}')
    other = _ladder(tmp_path / "other")
    (tmp_path / "other" / "normalization.json").write_text('{"mean": [0.4, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}')
    keys = {ladder_key(plain), ladder_key(normed), ladder_key(other)}
    assert len(keys) == 3


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(ScanStoreError, match=r"p50 checkpoint .*gone\.pt"):
        ladder_key({"dense": _ladder(tmp_path)["dense"], "p50": tmp_path / "gone.pt"})
    with pytest.raises(ScanStoreError, match="at least its dense model"):
        ladder_key({})


def test_files_live_in_the_cache_under_scans_one_per_key_and_pass(cache):
    key = "ab" * 32
    assert store_dir() == cache / "scans"
    assert scan_file(key, "quick") == cache / "scans" / f"{key}.quick.npz"
    assert scan_file(key, "full") == cache / "scans" / f"{key}.full.npz"
    assert scan_store.phase_of(scan_file(key, "full")) == "full" and scan_store.phase_of(cache / "x.npz") is None
    with pytest.raises(ConfigError, match="quick, full"):
        scan_file(key, "half")


def _write(path, size=100, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_lookup_prefers_the_full_pass_and_never_returns_a_temporary_file():
    key = "cd" * 32
    assert lookup(key) is None
    # what atomic_write leaves while it writes <key>.full.npz, or after a kill: .<stem>.<pid>.tmp<suffix>
    _write(store_dir() / f".{key}.full.4242.tmp.npz")
    assert lookup(key) is None
    quick = _write(scan_file(key, "quick"))
    assert lookup(key) == quick
    full = _write(scan_file(key, "full"))
    assert lookup(key) == full
    assert lookup("ef" * 32) is None


def test_lookup_marks_the_file_it_returns_as_used():
    key = "12" * 32
    full = _write(scan_file(key, "full"), mtime=1_000_000)
    before = time.time() - 5
    assert lookup(key) == full
    assert full.stat().st_mtime >= before


def test_eviction_drops_the_least_recently_used_until_under_the_bound_never_keep():
    files = [_write(store_dir() / f"{str(i) * 64}.full.npz", 100, mtime=1_000_000 + i) for i in range(1, 5)]
    assert evict(max_bytes=400) == []  # 400 bytes: at the bound, nothing goes
    assert evict(max_bytes=250) == files[:2]  # oldest first, until 200 <= 250
    assert [p.exists() for p in files] == [False, False, True, True]
    files[:2] = [_write(p, 100, mtime=1_000_000 + i) for i, p in enumerate(files[:2], 1)]
    assert evict(keep=files[0], max_bytes=250) == [files[1], files[2]]  # the oldest is kept: the next two go
    assert [p.exists() for p in files] == [True, False, False, True]
    assert evict(keep=files[0], max_bytes=0) == [files[3]]  # keep stays even alone over the bound
    assert files[0].exists()


def test_the_bound_is_read_from_the_environment(monkeypatch):
    assert scan_store.cache_limit_bytes() == 256 * 2**20
    a = _write(store_dir() / f"{'a' * 64}.quick.npz", 600, mtime=1_000_000)
    b = _write(store_dir() / f"{'b' * 64}.full.npz", 600, mtime=2_000_000)
    monkeypatch.setenv(scan_store.CACHE_MB_ENV, "0.001")  # 1048 bytes: one file fits, not two
    assert scan_store.cache_limit_bytes() == 1048
    assert evict() == [a] and b.exists()
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv(scan_store.CACHE_MB_ENV, bad)
        with pytest.raises(ConfigError, match=f"{scan_store.CACHE_MB_ENV} must be a number"):
            evict()


def test_eviction_deletes_stale_temporary_files_and_leaves_other_files_alone():
    now = 10_000_000.0
    stale = _write(store_dir() / f".{'a' * 64}.full.77.tmp.npz", mtime=now - 2 * 3600)
    live = _write(store_dir() / f".{'b' * 64}.full.78.tmp.npz", mtime=now - 60)  # a scan saving right now
    foreign = _write(store_dir() / "notes.txt", 10_000, mtime=1)
    assert evict(max_bytes=0, now=now) == [stale]
    assert live.exists() and foreign.exists()


def test_eviction_of_a_store_not_made_yet_does_nothing():
    assert not store_dir().exists() and evict(max_bytes=0) == []


KILLED_SCAN = textwrap.dedent("""
    import sys
    from vggexplorer.data.cifar10 import load_bundled_test
    from vggexplorer.stats import scan_store

    def on_batch(done, total):
        print(f"batch {done} {total}", flush=True)

    scan_store.scan_ladder({"dense": sys.argv[1], "p90": sys.argv[2]}, load_bundled_test(), "full", on_batch=on_batch)
    print("finished", flush=True)
""")


def test_a_scan_killed_half_way_leaves_nothing_that_reads_as_complete(cache):
    from vggexplorer.stats.scan import ScanError, load_scan

    pruned = CKPT_DIR / "pruned-90.pt"
    env = {**os.environ, "VGGEXPLORER_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SCAN, str(DENSE), str(pruned)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen, deadline = [], time.monotonic() + 180
    try:
        while len(seen) < 2:  # two batches done, eight to go
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert not line.startswith(("finished", "Traceback")), line + "".join(lines.queue)
            if line.startswith("batch "):
                seen.append(tuple(int(x) for x in line.split()[1:]))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert seen[0][1] == 10_000 and seen[-1][0] < 10_000  # killed half way: batches done, not all
    key = ladder_key({"dense": DENSE, "p90": pruned})
    assert lookup(key) is None and scan_store.cached(key, "quick") is None
    for path in (store_dir().rglob("*") if store_dir().exists() else []):
        with pytest.raises(ScanError):
            load_scan(path)


def test_a_stored_pass_is_returned_without_scanning_again(tmp_path, monkeypatch):
    """scan_ladder scans only what is not stored: here the stored file is a stand-in and run_scan must not run."""
    import vggexplorer.stats.scan as scan

    ladder = _ladder(tmp_path)
    stored = _write(scan_file(ladder_key(ladder), "quick"))
    monkeypatch.setattr(scan, "run_scan", lambda *a, **k: pytest.fail("scanned again"))
    assert scan_store.scan_ladder(ladder, split=None, phase="quick") == stored
