"""One copy of each model per process: loads shared while anyone holds the model, read once when asked for twice at
once, and the scan worker's twin over the very same tensors, with hooks and a lock of its own."""

from __future__ import annotations

import gc
import shutil
import threading
import time

import torch

from vggexplorer.probe.hooks import block_hooks, capture_activations, model_lock

from ui import shared_models

from ..conftest import CKPT_DIR, DENSE
from ..handmade import two_channel_model


def test_a_model_someone_holds_is_not_loaded_again():
    loads = []

    def load():
        loads.append(1)
        return two_channel_model()

    a = shared_models.shared(("t", "one"), load)
    assert shared_models.shared(("t", "one"), load) is a and len(loads) == 1
    del a
    gc.collect()  # nobody holds it any more: the next ask loads it again
    assert shared_models.shared(("t", "one"), load) is not None and len(loads) == 2


def test_a_twin_keeps_its_model_shared():
    loads = []

    def load():
        loads.append(1)
        return two_channel_model()

    t = shared_models.twin(shared_models.shared(("t", "twin"), load))  # the worker holds only the twin
    gc.collect()
    assert shared_models.shared(("t", "twin"), load) is t._twin_of and len(loads) == 1  # a page gets the same one
    assert t._twin_of not in list(t.modules())  # not a submodule: hooks and module walks see only the twin


def test_two_threads_asking_at_once_read_the_file_once():
    loads, got = [], []

    def slow():
        loads.append(1)
        time.sleep(0.2)
        return two_channel_model()

    threads = [threading.Thread(target=lambda: got.append(shared_models.shared(("t", "slow"), slow))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and all(m is got[0] for m in got)


def test_a_twin_shares_every_tensor_and_has_its_own_hooks_and_lock():
    m = two_channel_model()
    t = shared_models.twin(m)
    assert t is not m and model_lock(t) is not model_lock(m)
    own = dict(m.named_parameters()) | dict(m.named_buffers())
    for name, x in list(t.named_parameters()) + list(t.named_buffers()):
        assert x is own[name]  # the same tensor objects: no memory copied
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(t(x), m(x)) and t.meta == m.meta
    seen = []
    with block_hooks(t, lambda name, out: seen.append(name)):
        m(x)  # a forward of the original: the twin's hooks are not on it
        assert seen == []
        t(x)
    assert seen == ["conv0"]
    # a capture on the original holds its lock; a twin made meanwhile waits for it, and carries none of its hooks
    made = []
    with block_hooks(m, lambda name, out: None):
        th = threading.Thread(target=lambda: made.append(shared_models.twin(m)))
        th.start()
        time.sleep(0.2)
        assert not made  # still waiting for the capture to end
    th.join(5)
    assert made and all(not mod._forward_hooks for mod in made[0].modules())


def test_the_scan_worker_runs_a_twin_of_the_model_the_pages_hold(tmp_path):
    from vggexplorer.model.folder_ladder import open_folder
    from ui import resources
    from ui.modelset import ModelRef

    folder = tmp_path / "ladder"
    folder.mkdir()
    shutil.copy(DENSE, folder / "dense.pt")
    shutil.copy(CKPT_DIR / "pruned-90.pt", folder / "p90.pt")
    ladder = open_folder(folder)
    page_model, err = resources.load(ModelRef.of(ladder.dense))  # what a page loads (st.cache_resource)
    assert err is None
    scanned = resources.scan_model(ladder, folder / "dense.pt")
    assert scanned is not page_model
    assert all(a.data_ptr() == b.data_ptr() for a, b in zip(scanned.parameters(), page_model.parameters()))
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(capture_activations(scanned, x).logits, capture_activations(page_model, x).logits)
