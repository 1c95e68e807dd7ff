"""Does the CKA minibatch size change what the scan reports? CKA over the full test split at minibatches of 25, 50
and 100 images, from the very same activations, with a jackknife standard error.

    python -m scripts.cka_minibatch          # about 3 minutes on 2 CPU cores

Dense against the 55, 90 and 95% rungs, every block, the images in the scan's order (seed 0). Each 100-image batch
runs once through the four models; its Gram matrices are cut into minibatches of each size. The standard error is a
delete-one-group jackknife over 20 groups of minibatches (group g: minibatches i with i mod 20 = g). HSIC_1 is
unbiased at any size, so the three should agree up to their noise; the scan uses ``CKA_BATCH``
(``vggexplorer/stats/measures.py``). Prints one row per pair and size, and the largest difference from size 50.
"""

from __future__ import annotations

import torch

from vggexplorer import load_bundled_test, load_model
from vggexplorer.data.cifar10 import to_float
from vggexplorer.data.images import normalization
from vggexplorer.model.ladder import SHIPPED
from vggexplorer.model.vgg import conv_block_names
from vggexplorer.probe.hooks import block_hooks
from vggexplorer.stats.measures import CKA_BATCH, gram, hsic1_many
from vggexplorer.stats.scan import scan_order

SIZES = (10, 25, 50, 100)  # every size divides BATCH
BATCH = 100  # every size divides it
PAIRS = (55, 90, 95)
GROUPS = 20


def _cka(h: torch.Tensor) -> torch.Tensor:
    """``h [3, minibatches, blocks]`` (HSIC_1 of xy, xx, yy) -> CKA per block."""
    xy, xx, yy = h.sum(1)
    return xy / torch.sqrt(xx * yy)


def main() -> None:
    split = load_bundled_test()
    rungs = {"dense": SHIPPED.dense, **{p: SHIPPED.by_percent(p) for p in PAIRS}}
    models = {k: load_model(r.path) for k, r in rungs.items()}
    order = scan_order(len(split))
    rec = {(n, p): [] for n in SIZES for p in PAIRS}  # -> [3, minibatches of a batch, blocks] per batch
    with torch.no_grad():
        for s in range(0, len(order), BATCH):
            u8 = torch.from_numpy(split.images[order[s:s + BATCH]])
            grams = {}
            for key, m in models.items():
                per = {n: [] for n in SIZES}

                def hook(name: str, out: torch.Tensor, per=per) -> None:
                    for n in SIZES:
                        per[n].append(torch.stack([gram(out[c:c + n]) for c in range(0, out.shape[0], n)]))

                with block_hooks(m, hook):
                    m(to_float(u8, *normalization(m)))
                grams[key] = {n: torch.stack(v, 1) for n, v in per.items()}  # [minibatches, blocks, n, n]
            for n in SIZES:
                kd = grams["dense"][n]
                xx = hsic1_many(kd, kd)
                for p in PAIRS:
                    kp = grams[p][n]
                    rec[(n, p)].append(torch.stack([hsic1_many(kd, kp), xx, hsic1_many(kp, kp)]))
            if s % 2000 == 0:
                print(f"{s:,} / {len(order):,} images", flush=True)
    print("pair        n   " + "  ".join(f"{name:>15}" for name in conv_block_names()))
    values = {}
    for p in PAIRS:
        for n in SIZES:
            h = torch.cat(rec[(n, p)], 1)
            groups = torch.arange(h.shape[1]) % GROUPS
            full = _cka(h)
            jk = torch.stack([_cka(h[:, groups != g]) for g in range(GROUPS)])
            se = torch.sqrt((GROUPS - 1) / GROUPS * ((jk - jk.mean(0)) ** 2).sum(0))
            values[(n, p)] = (full, se)
            print(f"dense~p{p} {n:4d}   " + "  ".join(f"{v:.4f} ± {e:.4f}" for v, e in zip(full.tolist(), se.tolist())))
    worst = max(float((values[(n, p)][0] - values[(50, p)][0]).abs().max()) for n in SIZES for p in PAIRS)
    biggest_se = max(float(values[(n, p)][1].max()) for n in SIZES for p in PAIRS)
    print(f"largest difference from 50-image minibatches: {worst:.4f}; largest jackknife standard error: "
          f"{biggest_se:.4f}; the scan uses {CKA_BATCH}")


if __name__ == "__main__":
    main()
