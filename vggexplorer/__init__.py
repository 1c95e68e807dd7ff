"""VGG Explorer: what a pruned VGG on CIFAR-10 latches onto."""

from .checkpoint import CheckpointError, load_model
from .model import CIFAR10_CLASSES, VGG, VGG_CFG, count_macs, count_params

__all__ = ["CIFAR10_CLASSES", "CheckpointError", "VGG", "VGG_CFG", "count_macs", "count_params", "load_model"]
__version__ = "0.1.0"
