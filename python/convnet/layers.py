"""The original cs231n/layers.py, backed by libconvnet.

Every function takes and returns numpy arrays with the original's names,
arguments, return values and shapes. float32 inputs give float32 results;
anything else is computed in float64 (mixed float32/float64 inputs give
float64, as numpy's promotion would). Non-contiguous inputs are copied to
contiguous memory first. Caches are opaque `Cache` objects holding what
the backward pass needs.
"""
import ctypes

import numpy as np

from . import _lib
from ._lib import as_int, asarray, carr, pick_dtype, ptr

__all__ = [
    "Cache",
    "affine_forward", "affine_backward",
    "relu_forward", "relu_backward",
    "softmax_loss", "svm_loss",
    "dropout_forward", "dropout_backward",
    "conv_forward_naive", "conv_backward_naive",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "layernorm_forward", "layernorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
]


class Cache(object):
    """What a forward pass keeps for its backward pass (opaque)."""

    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)

    def __repr__(self):
        return "<convnet cache of %s (%s)>" % (self.kind, np.dtype(self.dt).name)


def _need_cache(cache, *kinds):
    if not isinstance(cache, Cache) or cache.kind not in kinds:
        raise ValueError("expected the cache of %s, got %r" % (" or ".join(kinds), cache))


def _check_shape(a, shape, what):
    if tuple(a.shape) != tuple(shape):
        raise ValueError("%s has shape %s, expected %s" % (what, tuple(a.shape), tuple(shape)))


def _ndim(a, n, what):
    if a.ndim != n:
        raise ValueError("%s must be %d-dimensional, got shape %s" % (what, n, tuple(a.shape)))


def _vector(a, n, what):
    """a (any shape) must hold n values; returns it flattened."""
    if a.size != n:
        raise ValueError("%s has %d values (shape %s), expected %d" % (what, a.size, tuple(a.shape), n))
    return a.reshape(n)


# ---- affine ----------------------------------------------------------------
def _affine_args(x, w, b, who):
    x, w, b = asarray(x), asarray(w), asarray(b)
    if x.ndim < 1:
        raise ValueError("%s: x must have a leading batch dimension, got a scalar" % who)
    _ndim(w, 2, who + ": w")
    N = x.shape[0]
    Dx = int(np.prod(x.shape[1:], dtype=np.int64))
    D, M = w.shape
    if Dx != D:
        raise ValueError("%s: x of shape %s has %d features per sample but w has %d rows"
                         % (who, tuple(x.shape), Dx, D))
    b = _vector(b, M, who + ": b")
    _lib.check_dims((N, D, M), who)
    dt = pick_dtype(x, w, b)
    return carr(x, dt).reshape(N, D), carr(w, dt), carr(b, dt), x.shape, dt, N, D, M


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b, x of shape (N, d1, ..., dk).
    Returns (out (N, M), cache)."""
    x2, w, b, xshape, dt, N, D, M = _affine_args(x, w, b, "affine_forward")
    out = np.empty((N, M), dt)
    _lib.call_layer("affine_forward", dt, ptr(out), ptr(x2), ptr(w), ptr(b), N, D, M)
    return out, Cache("affine", dt=dt, x=x2, w=w, b=b, xshape=xshape, N=N, D=D, M=M)


def _affine_backward(base, dout, cache, kind):
    """affine_backward, and affine_relu_backward (layer_utils), whose C
    function also takes the forward's out (the relu's mask) after dout."""
    _need_cache(cache, kind)
    dout = asarray(dout)
    _check_shape(dout, (cache.N, cache.M), base + ": dout")
    dt = pick_dtype(dout, cache.x)
    dout, x, w = carr(dout, dt), carr(cache.x, dt), carr(cache.w, dt)
    out = carr(cache.out, dt) if kind == "affine_relu" else None
    mask = () if out is None else (ptr(out),)
    dx = np.empty((cache.N, cache.D), dt)
    dw = np.empty((cache.D, cache.M), dt)
    db = np.empty(cache.M, dt)
    _lib.call_layer(base, dt, ptr(dx), ptr(dw), ptr(db), ptr(dout), *mask, ptr(x), ptr(w),
                    cache.N, cache.D, cache.M)
    return dx.reshape(cache.xshape), dw, db


def affine_backward(dout, cache):
    """Returns (dx in x's shape, dw (D, M), db (M,))."""
    return _affine_backward("affine_backward", dout, cache, "affine")


# ---- relu --------------------------------------------------------------------
def relu_forward(x):
    """out = max(x, 0). Returns (out, cache)."""
    x = asarray(x)
    dt = pick_dtype(x)
    x = carr(x, dt)
    out = np.empty(x.shape, dt)
    if x.size:
        _lib.call_layer("relu_forward", dt, ptr(out), ptr(x), x.size)
    return out, Cache("relu", dt=dt, x=x)


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0."""
    _need_cache(cache, "relu")
    dout = asarray(dout)
    _check_shape(dout, cache.x.shape, "relu_backward: dout")
    dt = pick_dtype(dout, cache.x)
    dout, x = carr(dout, dt), carr(cache.x, dt)
    dx = np.empty(x.shape, dt)
    if x.size:
        _lib.call_layer("relu_backward", dt, ptr(dx), ptr(dout), ptr(x), x.size)
    return dx


# ---- losses ------------------------------------------------------------------
def _labels(y, N, who):
    y = asarray(y)
    if y.ndim != 1 or y.shape[0] != N:
        raise ValueError("%s: y must have shape (%d,), got %s" % (who, N, tuple(y.shape)))
    if y.dtype.kind == "b":
        y = y.astype(np.int32)
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            pass
        elif y.size:
            raise ValueError("%s: labels must be integers, got dtype %s" % (who, y.dtype))
    if y.size:
        lo, hi = y.min(), y.max()
        if lo < -_lib.INT_MAX or hi > _lib.INT_MAX:
            bad = lo if lo < -_lib.INT_MAX else hi
            raise ValueError("%s: label %s is out of range" % (who, bad))
    return carr(y, np.int32)


def softmax_loss(x, y):
    """Softmax loss for scores x (N, C) and labels y (N,), 0 <= y[i] < C.
    Returns (loss, dx)."""
    x = asarray(x)
    _ndim(x, 2, "softmax_loss: x")
    N, C = x.shape
    _lib.check_dims((N, C), "softmax_loss")
    y = _labels(y, N, "softmax_loss")
    dt = pick_dtype(x)
    x = carr(x, dt)
    dx = np.empty((N, C), dt)
    loss = ctypes.c_double()
    _lib.call_layer("softmax_loss", dt, ctypes.byref(loss), ptr(dx), ptr(x), ptr(y), N, C)
    return loss.value, dx


def svm_loss(x, y):
    """Multiclass SVM loss (pure numpy, as the original). Returns (loss, dx)."""
    x = asarray(x)
    _ndim(x, 2, "svm_loss: x")
    N = x.shape[0]
    y = _labels(y, N, "svm_loss").astype(np.intp)
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError("svm_loss: labels must be in [0, %d)" % x.shape[1])
    dt = pick_dtype(x)
    x = x.astype(dt, copy=False)
    correct = x[np.arange(N), y]
    margins = np.maximum(0, x - correct[:, None] + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    num_pos = np.sum(margins > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margins > 0] = 1
    dx[np.arange(N), y] -= num_pos
    dx /= N
    return float(loss), dx


# ---- dropout (pure numpy, as the original) ----------------------------------
def dropout_forward(x, dropout_param):
    """Inverted dropout; dropout_param: p (probability of keeping a unit),
    mode ('train'/'test'), seed (optional). Returns (out, cache)."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    x = asarray(x)
    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    elif mode == "test":
        out = x
    else:
        raise ValueError('Invalid forward dropout mode "%s"' % mode)
    out = out.astype(x.dtype, copy=False)
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param["mode"]
    if mode == "train":
        return dout * mask
    if mode == "test":
        return dout
    raise ValueError('Invalid backward dropout mode "%s"' % mode)


# ---- convolution -------------------------------------------------------------
def _conv_args(x, w, b, conv_param, who):
    x, w, b = asarray(x), asarray(w), asarray(b)
    _ndim(x, 4, who + ": x")
    _ndim(w, 4, who + ": w")
    N, C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C:
        raise ValueError("%s: x has %d channels but the filters w %s have %d"
                         % (who, C, tuple(w.shape), Cw))
    b = _vector(b, F, who + ": b")
    stride = as_int(conv_param["stride"], who + ": conv_param['stride']")
    pad = as_int(conv_param["pad"], who + ": conv_param['pad']")
    _lib.check_dims(x.shape + w.shape, who)
    s, Ho, Wo = _lib.conv_out(N, C, H, W, F, HH, WW, stride, pad)
    dt = pick_dtype(x, w, b)
    return carr(x, dt), carr(w, dt), carr(b, dt), s, Ho, Wo, dt


def _conv_forward(base, x, w, b, conv_param, who):
    x, w, b, s, Ho, Wo, dt = _conv_args(x, w, b, conv_param, who)
    out = np.empty((s.N, s.F, Ho, Wo), dt)
    _lib.call_layer(base, dt, ptr(out), ptr(x), ptr(w), ptr(b), ctypes.byref(s))
    cache = Cache("conv", dt=dt, x=x, w=w, b=b, conv_param=conv_param, s=s,
                  oshape=out.shape)
    return out, cache


def _conv_backward(base, dout, cache, who):
    _need_cache(cache, "conv")
    dout = asarray(dout)
    _check_shape(dout, cache.oshape, who + ": dout")
    dt = pick_dtype(dout, cache.x)
    dout, x, w = carr(dout, dt), carr(cache.x, dt), carr(cache.w, dt)
    dx = np.empty(x.shape, dt)
    dw = np.empty(w.shape, dt)
    db = np.empty(w.shape[0], dt)
    _lib.call_layer(base, dt, ptr(dx), ptr(dw), ptr(db), ptr(dout), ptr(x), ptr(w),
                    ctypes.byref(cache.s))
    return dx, dw, db


def conv_forward_naive(x, w, b, conv_param):
    """Convolution, the readable reference: x (N, C, H, W), w (F, C, HH, WW),
    b (F,), conv_param {'stride', 'pad'}. Returns (out (N, F, H', W'), cache)
    with H' = 1 + (H + 2 * pad - HH) // stride."""
    return _conv_forward("conv_forward_naive", x, w, b, conv_param, "conv_forward_naive")


def conv_backward_naive(dout, cache):
    """Returns (dx, dw, db)."""
    return _conv_backward("conv_backward_naive", dout, cache, "conv_backward_naive")


# ---- max pooling -------------------------------------------------------------
def _pool_args(x, pool_param, who):
    x = asarray(x)
    _ndim(x, 4, who + ": x")
    ph = as_int(pool_param["pool_height"], who + ": pool_param['pool_height']")
    pw = as_int(pool_param["pool_width"], who + ": pool_param['pool_width']")
    stride = as_int(pool_param["stride"], who + ": pool_param['stride']")
    _lib.check_dims(x.shape, who)
    s, Ho, Wo = _lib.pool_out(*(x.shape + (ph, pw, stride)))
    dt = pick_dtype(x)
    return carr(x, dt), s, Ho, Wo, dt


def _pool_forward(base, x, pool_param, who):
    x, s, Ho, Wo, dt = _pool_args(x, pool_param, who)
    out = np.empty((s.N, s.C, Ho, Wo), dt)
    idx = np.empty((s.N, s.C, Ho, Wo), np.int32)
    _lib.call_layer(base, dt, ptr(out), ptr(idx), ptr(x), ctypes.byref(s))
    return out, Cache("pool", dt=dt, x=x, idx=idx, s=s, pool_param=pool_param, oshape=out.shape)


def _pool_backward(base, dout, cache, who):
    _need_cache(cache, "pool")
    dout = asarray(dout)
    _check_shape(dout, cache.oshape, who + ": dout")
    dt = pick_dtype(dout, cache.x)
    dout, x = carr(dout, dt), carr(cache.x, dt)
    dx = np.empty(x.shape, dt)
    _lib.call_layer(base, dt, ptr(dx), ptr(dout), ptr(x), ptr(cache.idx), ctypes.byref(cache.s))
    return dx


def max_pool_forward_naive(x, pool_param):
    """Max pooling: x (N, C, H, W), pool_param {'pool_height', 'pool_width',
    'stride'}. Returns (out (N, C, H', W'), cache)."""
    return _pool_forward("max_pool_forward_naive", x, pool_param, "max_pool_forward_naive")


def max_pool_backward_naive(dout, cache):
    return _pool_backward("max_pool_backward_naive", dout, cache, "max_pool_backward_naive")


# ---- batch norm --------------------------------------------------------------
def _bn_common(x, gamma, beta, bn_param, channels, who):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    eps = float(bn_param.get("eps", 1e-5))
    momentum = float(bn_param.get("momentum", 0.9))
    gamma, beta = asarray(gamma), asarray(beta)
    dt = pick_dtype(x, gamma, beta)
    g = carr(_vector(gamma, channels, who + ": gamma"), dt)
    bt = carr(_vector(beta, channels, who + ": beta"), dt)
    rm = bn_param.get("running_mean")
    rv = bn_param.get("running_var")
    rm = np.zeros(channels, dt) if rm is None else \
        np.array(_vector(asarray(rm), channels, who + ": running_mean"), dtype=dt, order="C")
    rv = np.zeros(channels, dt) if rv is None else \
        np.array(_vector(asarray(rv), channels, who + ": running_var"), dtype=dt, order="C")
    p = _lib.BnParam(1 if mode == "train" else 0, eps, momentum)
    return mode, dt, g, bt, rm, rv, p, gamma.shape


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm over x (N, D). bn_param: mode ('train'/'test', required),
    eps (1e-5), momentum (0.9), running_mean/running_var (zeros if absent;
    the updated ones are written back into bn_param). Returns (out, cache)."""
    x = asarray(x)
    _ndim(x, 2, "batchnorm_forward: x")
    N, D = x.shape
    _lib.check_dims((N, D), "batchnorm_forward")
    mode, dt, g, bt, rm, rv, p, gshape = _bn_common(x, gamma, beta, bn_param, D, "batchnorm_forward")
    x = carr(x, dt)
    out = np.empty((N, D), dt)
    cache = None
    if mode == "train":
        mean, invstd = np.empty(D, dt), np.empty(D, dt)
        _lib.call_layer("batchnorm_forward", dt, ptr(out), ptr(mean), ptr(invstd), ptr(x), ptr(g),
                        ptr(bt), ptr(rm), ptr(rv), ctypes.byref(p), N, D)
        cache = Cache("batchnorm", dt=dt, x=x, gamma=g, mean=mean, invstd=invstd, gshape=gshape)
    else:
        _lib.call_layer("batchnorm_forward", dt, ptr(out), None, None, ptr(x), ptr(g), ptr(bt),
                        ptr(rm), ptr(rv), ctypes.byref(p), N, D)
        cache = Cache("batchnorm-test", dt=dt)
    bn_param["running_mean"] = rm
    bn_param["running_var"] = rv
    return out, cache


def _norm_backward(base, dout, cache, kind):
    """The backward of batch, spatial batch, layer and group norm (the cache
    of `kind`): (dx, dgamma, dbeta), dgamma and dbeta in gamma's shape."""
    _need_cache(cache, kind)
    dout = asarray(dout)
    _check_shape(dout, cache.x.shape, base + ": dout")
    dt = pick_dtype(dout, cache.x)
    dout, x = carr(dout, dt), carr(cache.x, dt)
    g, mean, invstd = carr(cache.gamma, dt), carr(cache.mean, dt), carr(cache.invstd, dt)
    C = g.size
    dx = np.empty(x.shape, dt)
    dg, db = np.empty(C, dt), np.empty(C, dt)
    groups = (cache.G,) if kind == "groupnorm" else ()  # group norm's G comes before the shape
    _lib.call_layer(base, dt, ptr(dx), ptr(dg), ptr(db), ptr(dout), ptr(x), ptr(g), ptr(mean),
                    ptr(invstd), *groups, *x.shape)
    return dx, dg.reshape(cache.gshape), db.reshape(cache.gshape)


def batchnorm_backward(dout, cache):
    """Backward of train-mode batch norm through the computation graph.
    Returns (dx, dgamma, dbeta)."""
    if isinstance(cache, Cache) and cache.kind == "batchnorm-test":
        raise ValueError("batchnorm_backward: the cache is from test mode; backward needs train mode")
    return _norm_backward("batchnorm_backward_naive", dout, cache, "batchnorm")


def batchnorm_backward_alt(dout, cache):
    """The simplified closed-form backward. Returns (dx, dgamma, dbeta)."""
    if isinstance(cache, Cache) and cache.kind == "batchnorm-test":
        raise ValueError("batchnorm_backward_alt: the cache is from test mode; backward needs train mode")
    return _norm_backward("batchnorm_backward", dout, cache, "batchnorm")


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm of x (N, C, H, W) per channel; gamma, beta (C,); bn_param
    as batchnorm_forward. Returns (out, cache)."""
    x = asarray(x)
    _ndim(x, 4, "spatial_batchnorm_forward: x")
    N, C, H, W = x.shape
    _lib.check_dims(x.shape, "spatial_batchnorm_forward")
    mode, dt, g, bt, rm, rv, p, gshape = _bn_common(x, gamma, beta, bn_param, C,
                                                    "spatial_batchnorm_forward")
    x = carr(x, dt)
    out = np.empty(x.shape, dt)
    if mode == "train":
        mean, invstd = np.empty(C, dt), np.empty(C, dt)
        _lib.call_layer("spatial_batchnorm_forward", dt, ptr(out), ptr(mean), ptr(invstd), ptr(x),
                        ptr(g), ptr(bt), ptr(rm), ptr(rv), ctypes.byref(p), N, C, H, W)
        cache = Cache("spatial_batchnorm", dt=dt, x=x, gamma=g, mean=mean, invstd=invstd, gshape=gshape)
    else:
        _lib.call_layer("spatial_batchnorm_forward", dt, ptr(out), None, None, ptr(x), ptr(g),
                        ptr(bt), ptr(rm), ptr(rv), ctypes.byref(p), N, C, H, W)
        cache = Cache("spatial_batchnorm-test", dt=dt)
    bn_param["running_mean"] = rm
    bn_param["running_var"] = rv
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """Returns (dx, dgamma, dbeta)."""
    if isinstance(cache, Cache) and cache.kind == "spatial_batchnorm-test":
        raise ValueError("spatial_batchnorm_backward: the cache is from test mode; backward needs train mode")
    return _norm_backward("spatial_batchnorm_backward", dout, cache, "spatial_batchnorm")


# ---- layer norm and group norm -----------------------------------------------
def _rows_norm_forward(base, kind, x, gamma, beta, param, C, rows, G=None):
    """Layer norm and group norm's forward in C, x checked by the caller:
    gamma and beta hold C values; mean and invstd one value per normalized
    row (rows of them); group norm's G comes before the shape."""
    eps = float(param.get("eps", 1e-5))
    dt = pick_dtype(x, gamma, beta)
    g = carr(_vector(gamma, C, base + ": gamma"), dt)
    bt = carr(_vector(beta, C, base + ": beta"), dt)
    x = carr(x, dt)
    out = np.empty(x.shape, dt)
    mean, invstd = np.empty(rows, dt), np.empty(rows, dt)
    groups = () if G is None else (G,)
    _lib.call_layer(base, dt, ptr(out), ptr(mean), ptr(invstd), ptr(x), ptr(g), ptr(bt), eps, *groups,
                    *x.shape)
    cache = Cache(kind, dt=dt, x=x, gamma=g, mean=mean, invstd=invstd, gshape=gamma.shape)
    if G is not None:
        cache.G = G
    return out, cache


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer norm over each row of x (N, D); gamma, beta (D,); ln_param: eps
    (1e-5). Returns (out, cache)."""
    x, gamma, beta = asarray(x), asarray(gamma), asarray(beta)
    _ndim(x, 2, "layernorm_forward: x")
    N, D = x.shape
    _lib.check_dims((N, D), "layernorm_forward")
    return _rows_norm_forward("layernorm_forward", "layernorm", x, gamma, beta, ln_param, D, N)


def layernorm_backward(dout, cache):
    """Returns (dx, dgamma, dbeta)."""
    return _norm_backward("layernorm_backward", dout, cache, "layernorm")


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group norm of x (N, C, H, W) over G groups of C/G channels; gamma,
    beta of shape (1, C, 1, 1) (any shape holding C values); gn_param: eps
    (1e-5). Returns (out, cache)."""
    x, gamma, beta = asarray(x), asarray(gamma), asarray(beta)
    _ndim(x, 4, "spatial_groupnorm_forward: x")
    N, C, H, W = x.shape
    _lib.check_dims(x.shape, "spatial_groupnorm_forward")
    G = as_int(G, "spatial_groupnorm_forward: G")
    if G <= 0 or C % G:
        raise ValueError("spatial_groupnorm_forward: G=%d does not divide C=%d" % (G, C))
    return _rows_norm_forward("spatial_groupnorm_forward", "groupnorm", x, gamma, beta, gn_param, C,
                              N * G, G)


def spatial_groupnorm_backward(dout, cache):
    """Returns (dx, dgamma, dbeta), dgamma/dbeta in gamma's shape."""
    return _norm_backward("spatial_groupnorm_backward", dout, cache, "groupnorm")
