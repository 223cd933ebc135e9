"""The original cs231n/fast_layers.py: the fast convolution and pooling,
backed by libconvnet (im2col + BLAS GEMM in C; no Cython build).

conv_forward_fast / conv_backward_fast are also exported under the
original's other names (conv_forward_strides, conv_forward_im2col, ...);
they are all the same C fast path and their caches are interchangeable.
"""
from .layers import _conv_backward, _conv_forward, _pool_backward, _pool_forward

__all__ = [
    "conv_forward_fast", "conv_backward_fast",
    "conv_forward_strides", "conv_backward_strides",
    "conv_forward_im2col", "conv_backward_im2col",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "max_pool_forward_reshape", "max_pool_backward_reshape",
    "max_pool_forward_im2col", "max_pool_backward_im2col",
]


def conv_forward_fast(x, w, b, conv_param):
    """Fast convolution: x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param
    {'stride', 'pad'}. Returns (out (N, F, H', W'), cache)."""
    return _conv_forward("conv_forward", x, w, b, conv_param, "conv_forward_fast")


def conv_backward_fast(dout, cache):
    """Returns (dx, dw, db)."""
    return _conv_backward("conv_backward", dout, cache, "conv_backward_fast")


def max_pool_forward_fast(x, pool_param):
    """Fast max pooling (any window and stride). Returns (out, cache); the
    cache keeps the argmax indices computed in C."""
    return _pool_forward("max_pool_forward", x, pool_param, "max_pool_forward_fast")


def max_pool_backward_fast(dout, cache):
    """Routes dout to the argmax of each window (overlaps accumulate)."""
    return _pool_backward("max_pool_backward", dout, cache, "max_pool_backward_fast")


conv_forward_strides = conv_forward_fast
conv_backward_strides = conv_backward_fast
conv_forward_im2col = conv_forward_fast
conv_backward_im2col = conv_backward_fast
max_pool_forward_reshape = max_pool_forward_fast
max_pool_backward_reshape = max_pool_backward_fast
max_pool_forward_im2col = max_pool_forward_fast
max_pool_backward_im2col = max_pool_backward_fast
