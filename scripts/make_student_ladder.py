"""Make a ladder as a student of the course lab would save one, for trying the app on your own models.

    python scripts/make_student_ladder.py runs/student-ladder

Writes into the folder: ``dense.pth`` (the shipped dense weights as an ``nn.DataParallel`` state_dict),
``l1-70.pth`` (``torch.nn.utils.prune.global_unstructured`` with L1 at 70% over every conv and the linear weight,
saved without ``prune.remove``: ``weight_orig`` and ``weight_mask``), ``l1-90.pth`` (the same at 90%, folded with
``prune.remove`` and saved under ``{"model_state_dict": ..., "epoch": 0}``) and the ``normalization.json`` the dense
model was trained with. No fine-tuning: the rungs lose accuracy, as magnitude pruning alone does. Then:

    VGGEXPLORER_MODELS=runs/student-ladder streamlit run streamlit_app.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vggexplorer import load_model  # noqa: E402
from vggexplorer.model.ladder import DENSE  # noqa: E402


def pruned_copy(model: nn.Module, amount: float) -> nn.Module:
    """``model`` with global L1 unstructured pruning over every conv and linear weight (re-parametrised)."""
    m = load_model(DENSE.path)
    params = [(mod, "weight") for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    return m


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    dense = load_model(DENSE.path)
    torch.save(nn.DataParallel(dense).state_dict(), out / "dense.pth")
    torch.save(pruned_copy(dense, 0.7).state_dict(), out / "l1-70.pth")
    m = pruned_copy(dense, 0.9)
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            prune.remove(mod, "weight")
    torch.save({"model_state_dict": m.state_dict(), "epoch": 0}, out / "l1-90.pth")
    (out / "normalization.json").write_text(json.dumps(dense.meta["normalization"]) + "\n")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/student-ladder"))
