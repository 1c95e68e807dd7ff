"""VGG Explorer: what a pruned VGG on CIFAR-10 latches onto.

Notebook use::

    import vggexplorer as vx
    dense = vx.load_model("checkpoints/dense.pt")
    test = vx.load_bundled_test()
    cap = vx.capture_activations(dense, test.images[:1])   # conv0..conv7 post-ReLU maps
    cap.activations["conv7"].shape                         # [1, 512, 4, 4]
"""

from .activations import Capture, capture_activations
from .analysis import activation_dead, channel_cosine, channel_relative_difference, weight_dead, zero_on_image
from .checkpoint import CheckpointError, load_model
from .data import DataError, load_bundled_test
from .images import preprocess
from .importance import ablation, gradient_x_activation, last_block_contributions
from .model import CIFAR10_CLASSES, VGG, VGG_CFG, count_macs, count_params
from .scan import ScanError, load_scan

__all__ = [
    "CIFAR10_CLASSES", "Capture", "CheckpointError", "DataError", "ScanError", "VGG", "VGG_CFG", "ablation",
    "activation_dead", "capture_activations", "channel_cosine", "channel_relative_difference", "count_macs",
    "count_params", "gradient_x_activation", "last_block_contributions", "load_bundled_test", "load_model",
    "load_scan", "preprocess", "weight_dead", "zero_on_image",
]
__version__ = "0.1.0"
