"""The original cs231n/layer_utils.py: the sandwich layers. affine-relu,
conv-relu and conv-relu-pool run as fused C functions; conv-bn-relu is
composed from the layers."""
import ctypes

import numpy as np

from . import _lib
from ._lib import as_int, carr, pick_dtype, ptr
from .layers import (Cache, _affine_args, _affine_backward, _check_shape, _conv_args, _need_cache,
                     relu_backward, relu_forward, spatial_batchnorm_backward,
                     spatial_batchnorm_forward)
from .fast_layers import conv_backward_fast, conv_forward_fast

__all__ = [
    "affine_relu_forward", "affine_relu_backward",
    "conv_relu_forward", "conv_relu_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
    "conv_bn_relu_forward", "conv_bn_relu_backward",
]


def affine_relu_forward(x, w, b):
    """out = relu(affine(x, w, b)). Returns (out, cache)."""
    x2, w, b, xshape, dt, N, D, M = _affine_args(x, w, b, "affine_relu_forward")
    out = np.empty((N, M), dt)
    _lib.call_layer("affine_relu_forward", dt, ptr(out), ptr(x2), ptr(w), ptr(b), N, D, M)
    return out, Cache("affine_relu", dt=dt, x=x2, w=w, out=out, xshape=xshape, N=N, D=D, M=M)


def affine_relu_backward(dout, cache):
    """Returns (dx in x's shape, dw, db)."""
    return _affine_backward("affine_relu_backward", dout, cache, "affine_relu")


def conv_relu_forward(x, w, b, conv_param):
    """out = relu(conv(x)). Returns (out, cache)."""
    x, w, b, s, Ho, Wo, dt = _conv_args(x, w, b, conv_param, "conv_relu_forward")
    out = np.empty((s.N, s.F, Ho, Wo), dt)
    _lib.call_layer("conv_relu_forward", dt, ptr(out), ptr(x), ptr(w), ptr(b), ctypes.byref(s))
    return out, Cache("conv_relu", dt=dt, x=x, w=w, out=out, s=s)


def conv_relu_backward(dout, cache):
    """Returns (dx, dw, db)."""
    _need_cache(cache, "conv_relu")
    dout = np.asarray(dout)
    _check_shape(dout, cache.out.shape, "conv_relu_backward: dout")
    dt = pick_dtype(dout, cache.x)
    dout, x, w, out = carr(dout, dt), carr(cache.x, dt), carr(cache.w, dt), carr(cache.out, dt)
    dx, dw, db = np.empty(x.shape, dt), np.empty(w.shape, dt), np.empty(w.shape[0], dt)
    _lib.call_layer("conv_relu_backward", dt, ptr(dx), ptr(dw), ptr(db), ptr(dout), ptr(out),
                    ptr(x), ptr(w), ctypes.byref(cache.s))
    return dx, dw, db


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """out = max_pool(relu(conv(x))). Returns (out, cache)."""
    who = "conv_relu_pool_forward"
    x, w, b, s, Ho, Wo, dt = _conv_args(x, w, b, conv_param, who)
    ph = as_int(pool_param["pool_height"], who + ": pool_param['pool_height']")
    pw = as_int(pool_param["pool_width"], who + ": pool_param['pool_width']")
    ps = as_int(pool_param["stride"], who + ": pool_param['stride']")
    _, Hp, Wp = _lib.pool_out(s.N, s.F, Ho, Wo, ph, pw, ps)
    out = np.empty((s.N, s.F, Hp, Wp), dt)
    relu_out = np.empty((s.N, s.F, Ho, Wo), dt)
    idx = np.empty((s.N, s.F, Hp, Wp), np.int32)
    _lib.call_layer("conv_relu_pool_forward", dt, ptr(out), ptr(relu_out), ptr(idx), ptr(x), ptr(w),
                    ptr(b), ctypes.byref(s), ph, pw, ps)
    return out, Cache("conv_relu_pool", dt=dt, x=x, w=w, relu_out=relu_out, idx=idx, s=s,
                      pool=(ph, pw, ps), oshape=out.shape)


def conv_relu_pool_backward(dout, cache):
    """Returns (dx, dw, db)."""
    _need_cache(cache, "conv_relu_pool")
    dout = np.asarray(dout)
    _check_shape(dout, cache.oshape, "conv_relu_pool_backward: dout")
    dt = pick_dtype(dout, cache.x)
    dout, x, w = carr(dout, dt), carr(cache.x, dt), carr(cache.w, dt)
    relu_out = carr(cache.relu_out, dt)
    dx, dw, db = np.empty(x.shape, dt), np.empty(w.shape, dt), np.empty(w.shape[0], dt)
    ph, pw, ps = cache.pool
    _lib.call_layer("conv_relu_pool_backward", dt, ptr(dx), ptr(dw), ptr(db), ptr(dout),
                    ptr(relu_out), ptr(cache.idx), ptr(x), ptr(w), ctypes.byref(cache.s), ph, pw, ps)
    return dx, dw, db


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """out = relu(spatial_batchnorm(conv(x))). Returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """Returns (dx, dw, db, dgamma, dbeta)."""
    conv_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta
