"""What a hosted server lets users do with their own models: read once from the environment."""

from __future__ import annotations

from ui.caps import caps


def test_nothing_is_capped_locally_beyond_the_loaders_limit(monkeypatch):
    for name in ("VGGEXPLORER_HOSTED", "VGGEXPLORER_MAX_MODELS", "VGGEXPLORER_MAX_UPLOAD_MB", "VGGEXPLORER_FULL_SCAN"):
        monkeypatch.delenv(name, raising=False)
    c = caps()
    assert not c.hosted and c.max_models is None and c.max_bytes == 200 * 2**20 and c.full_pass


def test_hosted_defaults_and_each_cap_on_its_own(monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_HOSTED", "1")
    c = caps()
    assert c.hosted and c.max_models == 4 and c.max_bytes == 50 * 2**20 and c.full_pass
    assert c.describe() == "This server takes up to 4 models of up to 50 MB each."
    monkeypatch.setenv("VGGEXPLORER_MAX_MODELS", "3")
    monkeypatch.setenv("VGGEXPLORER_MAX_UPLOAD_MB", "999")  # never above the loader's own 200 MB
    monkeypatch.setenv("VGGEXPLORER_FULL_SCAN", "0")
    c = caps()
    assert c.max_models == 3 and c.max_bytes == 200 * 2**20 and not c.full_pass
    assert c.describe().endswith("and scans them on 1,000 test images only.")
    monkeypatch.setenv("VGGEXPLORER_MAX_MODELS", "many")  # a bad value: the default, not a crash
    assert caps().max_models == 4
