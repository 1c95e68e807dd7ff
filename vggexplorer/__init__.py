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
    "Capture": "activations", "capture_activations": "activations",
    "activation_dead": "analysis", "channel_cosine": "analysis", "channel_relative_difference": "analysis",
    "weight_dead": "analysis", "zero_on_image": "analysis",
    "CheckpointError": "checkpoint", "load_model": "checkpoint",
    "CIFAR10_CLASSES": "data", "DataError": "data", "load_bundled_test": "data",
    "preprocess": "images",
    "ablation": "importance", "gradient_x_activation": "importance", "last_block_contributions": "importance",
    "VGG": "model", "VGG_CFG": "model", "count_macs": "model", "count_params": "model",
    "ScanError": "scan", "load_scan": "scan",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"
