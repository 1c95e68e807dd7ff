"""An independent computation of what the Dead filters page and ``compare`` report, for the tests and the acceptance
script (``scripts/verify_own_ladder.py``) to check the app against: plain torch, the files read and folded by hand,
each block's ReLU hooked directly, and the status rules written out here, not taken from ``vggexplorer``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

ORDER = ("weight-dead", "activation-dead", "dormant", "weakened")  # the status priority, highest first


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def plain_model(path: Path) -> nn.Module:
    """The file as a VGG, read here: the ``model_state_dict`` wrapper unwrapped, ``module.`` stripped, every
    ``weight_orig * weight_mask`` folded into ``weight``."""
    from vggexplorer.model.vgg import VGG

    sd = torch.load(path, map_location="cpu", weights_only=True)
    if "model_state_dict" in sd:
        sd = sd["model_state_dict"]
    sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
    folded = {}
    for k, v in sd.items():
        if k.endswith("_orig"):
            folded[k[: -len("_orig")]] = v * sd[k[: -len("_orig")] + "_mask"]
        elif not k.endswith("_mask"):
            folded[k] = v
    model = VGG()
    model.load_state_dict(folded, strict=True)
    return model.float().eval()


def zero_percent(model: nn.Module) -> int:
    ws = [m.weight for m, _ in prunable(model)]
    return round(100 * sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws))


@torch.no_grad()
def run_model(model: nn.Module, images: np.ndarray, norm: dict, batch: int = 250) -> tuple[list[dict], np.ndarray,
                                                                                           np.ndarray]:
    """(per block: filter_sparsity, fire_fraction, density, mean of every channel; top-1 from the logits; top-1 from
    the softmax) over ``images`` (uint8 [N, 32, 32, 3])."""
    convs = [m for m in model.backbone.children() if isinstance(m, nn.Conv2d)]
    relus = [m for m in model.backbone.children() if isinstance(m, nn.ReLU)]
    assert len(convs) == len(relus) == 8
    acc = [{"fires": 0, "nonzero": 0, "positions": 0, "mean_sum": 0} for _ in relus]

    def hook(a):
        def fn(mod, inp, out):
            o = out.detach()
            a["fires"] = a["fires"] + (o.flatten(2).amax(2) > 0).sum(0).numpy()
            a["nonzero"] = a["nonzero"] + (o > 0).sum((0, 2, 3)).numpy()
            a["positions"] += o.shape[0] * o.shape[2] * o.shape[3]
            a["mean_sum"] = a["mean_sum"] + o.mean((2, 3)).double().sum(0).numpy()
        return fn

    handles = [r.register_forward_hook(hook(a)) for r, a in zip(relus, acc)]
    mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(norm["std"], dtype=torch.float32).view(1, 3, 1, 1)
    logit_top, soft_top = [], []
    try:
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).permute(0, 3, 1, 2).float() / 255.0
            logits = model((x - mean) / std)
            logit_top.append(logits.argmax(1))
            soft_top.append(torch.softmax(logits, 1).argmax(1))
    finally:
        for h in handles:
            h.remove()
    n = len(images)
    stats = [{"filter_sparsity": (c.weight.detach().flatten(1) == 0).double().mean(1).numpy(),
              "fire_fraction": a["fires"] / n, "density": a["nonzero"] / a["positions"], "mean": a["mean_sum"] / n}
             for c, a in zip(convs, acc)]
    return stats, torch.cat(logit_top).numpy(), torch.cat(soft_top).numpy()


def flags(st: dict, ref: dict) -> dict[str, np.ndarray]:
    """The four categories of one block's channels, the rules written out (``ref``: the dense block)."""
    return {"weight-dead": st["filter_sparsity"] == 1.0,
            "activation-dead": st["fire_fraction"] == 0,
            "dormant": st["density"] < 0.01,
            "weakened": (ref["mean"] > 0) & (st["mean"] < 0.25 * ref["mean"])}


def totals(rung: list[dict], dense: list[dict]) -> tuple[dict[str, int], dict[str, int]]:
    """(each channel once, by its first category; every category, overlapping), over every block."""
    status, overlapping = dict.fromkeys(ORDER, 0), dict.fromkeys(ORDER, 0)
    for st, ref in zip(rung, dense):
        f = flags(st, ref)
        taken = np.zeros(len(st["mean"]), bool)
        for name in ORDER:
            status[name] += int(np.sum(f[name] & ~taken))
            overlapping[name] += int(np.sum(f[name]))
            taken |= f[name]
    return status, overlapping
