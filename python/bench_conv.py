"""Time conv_forward_fast / conv_backward_fast through the numpy module
against a numpy im2col implementation (the original's pure-numpy
im2col_indices / col2im_indices approach), on the original notebook's
timing shapes: x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1.

    PYTHONPATH=python CONVNET_LIB=build/libconvnet.so python3 python/bench_conv.py [--repeat 15]

Prints the median of several runs of each, and checks the results agree.
"""
import argparse
import time

import numpy as np

import convnet
from convnet.fast_layers import conv_backward_fast, conv_forward_fast


# ---- numpy im2col convolution -------------------------------------------------------
def im2col_indices(x_shape, HH, WW, pad, stride):
    N, C, H, W = x_shape
    Ho = (H + 2 * pad - HH) // stride + 1
    Wo = (W + 2 * pad - WW) // stride + 1
    i0 = np.tile(np.repeat(np.arange(HH), WW), C)
    i1 = stride * np.repeat(np.arange(Ho), Wo)
    j0 = np.tile(np.arange(WW), HH * C)
    j1 = stride * np.tile(np.arange(Wo), Ho)
    i = i0.reshape(-1, 1) + i1.reshape(1, -1)
    j = j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(C), HH * WW).reshape(-1, 1)
    return k, i, j, Ho, Wo


def np_conv_forward(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="constant")
    k, i, j, Ho, Wo = im2col_indices(x.shape, HH, WW, p, s)
    cols = xp[:, k, i, j]                                   # (N, C*HH*WW, Ho*Wo)
    cols = cols.transpose(1, 2, 0).reshape(C * HH * WW, -1)  # (C*HH*WW, Ho*Wo*N)
    out = w.reshape(F, -1) @ cols + b.reshape(-1, 1)
    out = out.reshape(F, Ho, Wo, N).transpose(3, 0, 1, 2)
    return out, (x, w, b, conv_param, cols)


def np_conv_backward(dout, cache):
    x, w, b, conv_param, cols = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    s, p = conv_param["stride"], conv_param["pad"]
    db = dout.sum(axis=(0, 2, 3))
    d = dout.transpose(1, 2, 3, 0).reshape(F, -1)
    dw = (d @ cols.T).reshape(w.shape)
    dcols = w.reshape(F, -1).T @ d                          # (C*HH*WW, Ho*Wo*N)
    k, i, j, Ho, Wo = im2col_indices(x.shape, HH, WW, p, s)
    dcols = dcols.reshape(C * HH * WW, -1, N).transpose(2, 0, 1)
    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=x.dtype)
    np.add.at(dxp, (slice(None), k, i, j), dcols)
    dx = dxp[:, :, p:p + H, p:p + W] if p > 0 else dxp
    return dx, dw, db


def median_time(fn, repeat):
    fn()  # warm-up (workspace allocation, page faults)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, action="append",
                    help="library threads (0: every core); repeatable; default: 1 and 0")
    a = ap.parse_args()
    rs = np.random.RandomState(0)
    x = rs.randn(100, 3, 31, 31)
    w = rs.randn(25, 3, 3, 3)
    b = rs.randn(25)
    cp = {"stride": 2, "pad": 1}
    dout = rs.randn(100, 25, 16, 16)
    print("x %s, w %s, stride 2, pad 1; median of %d runs" % (x.shape, w.shape, a.repeat))
    for th in a.threads or [1, 0]:
        convnet.set_num_threads(th)
        print("convnet %s" % convnet.build_info())
        run(x, w, b, cp, dout, a.repeat)


def scaled(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def run(x, w, b, cp, dout, repeat):
    for dt in (np.float64, np.float32):
        xd, wd, bd, dd = x.astype(dt), w.astype(dt), b.astype(dt), dout.astype(dt)
        out_c, cache_c = conv_forward_fast(xd, wd, bd, cp)
        out_n, cache_n = np_conv_forward(xd, wd, bd, cp)
        gc = conv_backward_fast(dd, cache_c)
        gn = np_conv_backward(dd, cache_n)
        errs = [scaled(out_c, out_n)] + [scaled(u, v) for u, v in zip(gc, gn)]
        tf_c = median_time(lambda: conv_forward_fast(xd, wd, bd, cp), repeat)
        tf_n = median_time(lambda: np_conv_forward(xd, wd, bd, cp), repeat)
        tb_c = median_time(lambda: conv_backward_fast(dd, cache_c), repeat)
        tb_n = median_time(lambda: np_conv_backward(dd, cache_n), repeat)
        name = np.dtype(dt).name
        print("%s  agreement: max |diff| / max |ref| over out/dx/dw/db = %.2e" % (name, max(errs)))
        print("%s  forward : convnet %8.3f ms   numpy im2col %8.3f ms   speedup %6.1fx"
              % (name, tf_c * 1e3, tf_n * 1e3, tf_n / tf_c))
        print("%s  backward: convnet %8.3f ms   numpy im2col %8.3f ms   speedup %6.1fx"
              % (name, tb_c * 1e3, tb_n * 1e3, tb_n / tb_c))


if __name__ == "__main__":
    main()
