"""Update rules (C-backed) against the original numpy formulas."""
import numpy as np

import checklib as ck

from convnet import optim

N, D = 4, 5


def inputs(dt):
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D).astype(dt)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D).astype(dt)
    s1 = np.linspace(0.6, 0.9, num=N * D).reshape(N, D).astype(dt)
    s2 = np.linspace(0.7, 0.5, num=N * D).reshape(N, D).astype(dt)
    return w, dw, s1, s2


def f64(a):
    return np.asarray(a, np.float64)


def t_rules():
    for dt, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        n = np.dtype(dt).name
        w, dw, s1, s2 = inputs(dt)
        w0 = w.copy()

        nw, cfg = optim.sgd(w, dw, {"learning_rate": 1e-3})
        ck.close("sgd %s" % n, nw, f64(w) - 1e-3 * f64(dw), tol)
        ck.close("sgd leaves w alone %s" % n, w, w0, 0)
        ck.equal("sgd dtype %s" % n, nw.dtype, np.dtype(dt))

        v0 = s1.copy()
        nw, cfg = optim.sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": s1})
        v = 0.9 * f64(v0) - 1e-3 * f64(dw)
        ck.close("sgd_momentum next_w %s" % n, nw, f64(w) + v, tol)
        ck.close("sgd_momentum velocity %s" % n, cfg["velocity"], v, tol)
        ck.close("sgd_momentum caller's velocity array untouched %s" % n, s1, v0, 0)
        ck.close("sgd_momentum leaves w alone %s" % n, w, w0, 0)

        nw, cfg = optim.rmsprop(w, dw, {"learning_rate": 1e-2, "cache": s1})
        c = 0.99 * f64(s1) + 0.01 * f64(dw) ** 2
        ck.close("rmsprop next_w %s" % n, nw, f64(w) - 1e-2 * f64(dw) / (np.sqrt(c) + 1e-8), tol)
        ck.close("rmsprop cache %s" % n, cfg["cache"], c, tol)

        nw, cfg = optim.adam(w, dw, {"learning_rate": 1e-2, "m": s1, "v": s2, "t": 5})
        t = 6
        m = 0.9 * f64(s1) + 0.1 * f64(dw)
        vv = 0.999 * f64(s2) + 0.001 * f64(dw) ** 2
        mt, vt = m / (1 - 0.9 ** t), vv / (1 - 0.999 ** t)
        ck.close("adam next_w %s" % n, nw, f64(w) - 1e-2 * mt / (np.sqrt(vt) + 1e-8), tol)
        ck.close("adam m %s" % n, cfg["m"], m, tol)
        ck.close("adam v %s" % n, cfg["v"], vv, tol)
        ck.equal("adam t incremented %s" % n, cfg["t"], 6)

    # defaults, exactly as the original
    w, dw, _, _ = inputs(np.float64)
    _, c = optim.sgd(w, dw)
    ck.equal("sgd defaults", c, {"learning_rate": 1e-2})
    _, c = optim.sgd_momentum(w, dw)
    ck.equal("sgd_momentum defaults", (c["learning_rate"], c["momentum"]), (1e-2, 0.9))
    ck.close("sgd_momentum first velocity", c["velocity"], -1e-2 * dw, 1e-15)
    _, c = optim.rmsprop(w, dw)
    ck.equal("rmsprop defaults", (c["learning_rate"], c["decay_rate"], c["epsilon"]), (1e-2, 0.99, 1e-8))
    nw, c = optim.adam(w, dw)
    ck.equal("adam defaults", (c["learning_rate"], c["beta1"], c["beta2"], c["epsilon"], c["t"]),
             (1e-3, 0.9, 0.999, 1e-8, 1))
    # first adam step moves every weight by ~lr against the gradient's sign
    ck.close("adam first step = -lr*sign(dw)", nw - w, -1e-3 * np.sign(dw), 1e-4)
    # state carries over between calls
    cfg = {"learning_rate": 0.1}
    w1, cfg = optim.sgd_momentum(w, dw, cfg)
    w2, cfg = optim.sgd_momentum(w1, dw, cfg)
    ck.close("sgd_momentum two steps", w2, w + (-0.1 * dw) + (0.9 * -0.1 * dw - 0.1 * dw), 1e-14)
    # non-contiguous and integer inputs
    wn = np.arange(20.0).reshape(5, 4).T
    nw, _ = optim.sgd(wn, np.ones((4, 5)), {"learning_rate": 0.5})
    ck.close("sgd non-contiguous w", nw, wn - 0.5, 0)
    nw, _ = optim.sgd(np.arange(6).reshape(2, 3), np.ones((2, 3)), {"learning_rate": 0.25})
    ck.equal("sgd integer w -> float64", nw.dtype, np.dtype(np.float64))
    ck.raises("sgd shape mismatch -> ValueError", ValueError, lambda: optim.sgd(w, dw.T))
    ck.raises("adam state shape mismatch -> ValueError", ValueError,
              lambda: optim.adam(w, dw, {"m": np.zeros(3)}))


ck.run("rules", t_rules)
ck.finish()
