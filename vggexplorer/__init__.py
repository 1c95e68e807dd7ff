"""VGG Explorer: what a pruned VGG on CIFAR-10 latches onto.

Notebook use::

    import vggexplorer as vx
    dense = vx.load_model("checkpoints/dense.pt")
    test = vx.load_bundled_test()
    cap = vx.capture_activations(dense, test.images[:1])   # conv0..conv7 post-ReLU maps
    cap.activations["conv7"].shape                         # [1, 512, 4, 4]
"""

from importlib import import_module

# name -> the module that defines it, imported on first use (PEP 562): ``import vggexplorer.data`` stays
# torch-free, so the app can decode its test split while torch imports (ui/warm.py)
_EXPORTS = {
    "Capture": "probe.hooks", "capture_activations": "probe.hooks",
    "channel_cosine": "probe.analysis", "channel_relative_difference": "probe.analysis",
    "activation_dead": "stats.status", "filter_sparsity": "stats.status", "weight_dead": "stats.status",
    "zero_on_image": "stats.status",
    "CheckpointError": "model.checkpoint", "load_model": "model.checkpoint",
    "CIFAR10_CLASSES": "data.cifar10", "DataError": "data.cifar10", "load_bundled_test": "data.cifar10",
    "preprocess": "data.images",
    "ablation": "probe.importance", "gradient_x_activation": "probe.importance", "last_block_contributions": "probe.importance",
    "VGG": "model.vgg", "VGG_CFG": "model.vgg", "count_macs": "model.vgg", "count_params": "model.vgg",
    "ScanError": "stats.scan", "load_scan": "stats.scan",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"
