#!/usr/bin/python3
"""The same epoch in PyTorch (Debian's python3-torch), for the side-by-side
comparison in `make bench`: ThreeLayerConvNet (conv 32x7x7 pad 3 - relu -
2x2 max pool - affine H - relu - affine 10), weights ~ N(0, 1e-3^2), biases
0, L2 0.5*reg*sum(W^2) with reg 1e-3, adam 1e-3 (no weight decay: the L2 is
in the loss as in the original), batch 50 drawn with replacement, accuracy
checks after the first iteration and at the epoch end (1000 train samples,
all 1000 val), data = the same CIFAR-10 split with the mean image subtracted.

usage: bench/torch_epoch.py CIFAR_DIR HIDDEN THREADS
Prints one line: 'torch hidden H threads T: S s, I images/s, val acc A, peak RSS M MB'."""
import os, sys, time, resource
import numpy as np

def load(d, n):
    xs, ys = [], []
    for i in range(1, 6):
        raw = np.fromfile(os.path.join(d, "data_batch_%d.bin" % i), dtype=np.uint8).reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64)); xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
        if sum(len(y) for y in ys) >= n: break
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]

def main():
    d, hidden, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0); rng = np.random.default_rng(0)
    X, y = load(d, 50000)
    Xtr, ytr, Xva, yva = X[:49000], y[:49000], X[49000:], y[49000:]
    mean = Xtr.astype(np.float64).mean(axis=0).astype(np.float32)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(32 * 16 * 16, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    with torch.no_grad():
        for m in model:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0, 1e-3); m.bias.zero_()
    weights = [m.weight for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    reg, B = 1e-3, 50
    it = 49000 // B
    def batch(Xs, idx):
        return torch.from_numpy(Xs[idx].astype(np.float32) - mean)
    def acc(Xs, ys, n=None):
        idx = rng.choice(len(Xs), n) if n and len(Xs) > n else np.arange(len(Xs))
        correct = 0
        with torch.no_grad():
            for s in range(0, len(idx), 100):
                j = idx[s:s + 100]
                correct += int((model(batch(Xs, j)).argmax(1).numpy() == ys[j]).sum())
        return correct / len(idx)
    t0 = time.time(); best = 0
    for t in range(it):
        j = rng.choice(49000, B)
        out = model(batch(Xtr, j))
        loss = nn.functional.cross_entropy(out, torch.from_numpy(ytr[j]))
        loss = loss + 0.5 * reg * sum((w * w).sum() for w in weights)
        opt.zero_grad(set_to_none=False); loss.backward(); opt.step()
        if t == 0 or t == it - 1:
            acc(Xtr, ytr, 1000); best = max(best, acc(Xva, yva))
    secs = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("torch %s hidden %d threads %d: %.2f s, %.0f images/s, val acc %.3f, peak RSS %.0f MB"
          % (torch.__version__, hidden, threads, secs, it * B / secs, best, rss))

if __name__ == "__main__":
    main()
