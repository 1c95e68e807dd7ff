"""An independent check of the shipped CKA figures, from the checkpoints and the full test split.

    python -m scripts.verify_cka          # about 2 minutes on 2 CPU cores

It does not use the scan's hooks or its order: `capture_activations`, another shuffled order (seed 1) and
another minibatch size (100), dense against the 55% and the 95% rungs, every block. It prints each value
beside the shipped one (`python -m vggexplorer compare --json`) and exits 1 if any differs by more than 0.005.
"""

from __future__ import annotations

import numpy as np

from vggexplorer import load_model, load_bundled_test, capture_activations
from vggexplorer.model.ladder import LADDER, scan_path
from vggexplorer.stats.scan import load_scan
from vggexplorer.stats.measures import MinibatchCKA, gram


def main() -> None:
    split = load_bundled_test()
    scan = load_scan(scan_path())
    models = {r.role: load_model(r.path) for r in (LADDER[0], LADDER[1], LADDER[-1])}
    order = np.random.default_rng(1).permutation(len(split))
    acc = {(p, b): MinibatchCKA() for p in ("p55", "p95") for b in scan.blocks}
    B = 100
    for s in range(0, len(order), B):
        idx = order[s:s + B]
        caps = {r: capture_activations(m, split.images[idx]) for r, m in models.items()}
        for b in scan.blocks:
            kd = gram(caps["dense"].activations[b])
            for p in ("p55", "p95"):
                acc[(p, b)].update(kd, gram(caps[p].activations[b]))
        if s % 2000 == 0:
            print(f"{s} / {len(order)} images", flush=True)
    out = {}
    for p in ("p55", "p95"):
        for b in scan.blocks:
            mine, shipped = acc[(p, b)].value(), scan.cka("dense", p)[b]
            out[f"dense~{p} {b}"] = (round(mine, 4), round(shipped, 4), round(mine - shipped, 4))
            print(f"dense~{p} {b}: recomputed {mine:.4f} shipped {shipped:.4f} diff {mine - shipped:+.4f}")
    worst = max(abs(v[2]) for v in out.values())
    print(f"max |diff| {worst:.4f}")
    raise SystemExit(0 if worst <= 0.005 else 1)


if __name__ == "__main__":
    main()
