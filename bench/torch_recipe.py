#!/usr/bin/python3
"""The fast recipe's training steps in PyTorch (Debian's python3-torch), for
the side-by-side comparison in bench/recipe.sh: the same net as
`convnet train --recipe fast` (tools/recipes.c: airbench93's widths) with the
same layers -- a frozen 2x2 whitening conv 3->24 (fitted here by torch's own
eigh on 5000 images' patches), GELU, three blocks conv3x3 -> maxpool2 -> BN
without a learned scale -> GELU -> conv3x3 -> BN -> GELU (conv biases, as
convnet's convs have them), a global max pool, linear 128->10 scaled by 1/9
-- the same loss (label smoothing 0.2), the same optimizer (SGD Nesterov,
momentum 0.85, lr 0.75, norm biases at 64x, L2 1.33e-3 on the weights) and
the same data path (uint8 CIFAR-10 training images, the mean image
subtracted, random 2-pixel translation with reflect padding and flips done
per batch in torch). It times STEPS training steps of batch B (after 2
warm-up steps) and prints one line:
  'torch recipe B threads T: S s for N steps, I images/s, peak RSS M MB'.
usage: bench/torch_recipe.py CIFAR_DIR THREADS [STEPS] [B]"""
import os, sys, time, resource
import numpy as np
from torch_epoch import load  # the CIFAR-10 binaries, as the epoch comparison reads them

def main():
    d, threads = sys.argv[1], int(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    B = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    import torch
    nn, F = torch.nn, torch.nn.functional
    torch.set_num_threads(threads)
    torch.manual_seed(0); rng = np.random.default_rng(0)
    X, y = load(d, 50000)
    mean = torch.from_numpy(X.astype(np.float64).mean(axis=0).astype(np.float32))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    class BN(nn.BatchNorm2d):  # beta only, as convnet's bnb
        def __init__(self, c):
            super().__init__(c, momentum=0.1)
            self.weight.requires_grad = False
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.MaxPool2d(2), BN(cout), nn.GELU(),
                nn.Conv2d(cout, cout, 3, padding=1), BN(cout), nn.GELU()]
    whiten = nn.Conv2d(3, 24, 2, padding=0)
    model = nn.Sequential(whiten, nn.GELU(), *block(24, 64), *block(64, 128), *block(128, 128),
                          nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    with torch.no_grad():  # whitening from 5000 images' 2x2 patches
        x = Xt[:5000].float() - mean
        p = x.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 12)
        cov = p.T @ p / len(p)
        ev, V = torch.linalg.eigh(cov.double())
        W = (V.T / torch.sqrt(ev + 2.0)[:, None]).float().reshape(12, 3, 2, 2)
        whiten.weight.copy_(torch.cat([W, -W]))
        for m in model:
            if isinstance(m, nn.Conv2d) and m is not whiten:
                torch.nn.init.dirac_(m.weight[:m.in_channels])
    whiten.weight.requires_grad = False
    betas = [m.bias for m in model if isinstance(m, BN)]
    weights = [m.weight for m in model if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not whiten]
    ids = {id(t) for t in betas + weights}
    others = [t for t in model.parameters() if t.requires_grad and id(t) not in ids]
    lr = 0.75
    # channels_last: oneDNN's blocked convolutions without reorders, PyTorch's
    # best setting here (376 vs 292 images/s in NCHW on Zen 5); CN_TORCH_NCHW=1 for NCHW
    channels_last = not os.environ.get("CN_TORCH_NCHW")
    opt = torch.optim.SGD([dict(params=betas, lr=lr * 64), dict(params=weights, weight_decay=1.33e-3),
                           dict(params=others)], lr=lr, momentum=0.85, nesterov=True)
    def batch(idx, epoch):
        x = Xt[idx].float() - mean
        x = F.pad(x, (2, 2, 2, 2), mode="reflect")
        dy, dx = rng.integers(0, 5, 2)
        x = x[:, :, dy:dy + 32, dx:dx + 32]
        if epoch % 2: x = x.flip(3)
        if channels_last:
            return x.contiguous(memory_format=torch.channels_last), yt[idx]
        return x.contiguous(), yt[idx]
    perm = torch.from_numpy(rng.permutation(50000))
    def step(t):
        xb, yb = batch(perm[(t * B) % 49152:(t * B) % 49152 + B], t)
        out = model(xb) / 9
        loss = F.cross_entropy(out, yb, label_smoothing=0.2)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        return float(loss)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    for t in range(2): step(t)
    t0 = time.time()
    for t in range(2, 2 + steps): step(t)
    s = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("torch recipe %d threads %d: %.2f s for %d steps, %.0f images/s, peak RSS %.0f MB" %
          (B, threads, s, steps, steps * B / s, rss))

main()
