"""Loading libconvnet with ctypes: the library, one context, call signatures,
status codes turned into exceptions, and array conversion helpers.

Nothing here is public API; the layer modules build on it.
"""
import ctypes
import ctypes.util
import operator
import os
import threading

import numpy as np

__all__ = []

# ---- status codes (include/convnet.h) ------------------------------------
CN_OK = 0
CN_EINVAL = -1
CN_ENOMEM = -2
CN_EIO = -3
CN_EFORMAT = -4
CN_ENUM = -5
CN_EINTR = -6

CN_F32 = 0
CN_F64 = 1

INT_MAX = 2**31 - 1

P = ctypes.c_void_p
I = ctypes.c_int
Z = ctypes.c_size_t
D = ctypes.c_double
L = ctypes.c_long
S = ctypes.c_char_p


class ConvShape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("N", "C", "H", "W", "F", "HH", "WW", "stride", "pad")]


class PoolShape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("N", "C", "H", "W", "ph", "pw", "stride")]


class BnParam(ctypes.Structure):
    _fields_ = [("train", ctypes.c_int), ("eps", ctypes.c_double), ("momentum", ctypes.c_double)]


class Rng(ctypes.Structure):
    _fields_ = [("s", ctypes.c_uint64 * 4)]


class Param(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("ndim", ctypes.c_int),
        ("shape", ctypes.c_int64 * 4),
        ("size", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("grad", ctypes.c_void_p),
        ("trainable", ctypes.c_int),
        ("regularized", ctypes.c_int),
    ]


# Signatures: a string of argument codes (P pointer, I int, Z size_t,
# D double, L long, S char*) and a restype. Layer functions are listed
# without their _f32/_f64 suffix; both dtypes share the signature.
_LAYER_SIGS = {
    "affine_forward": "PPPPPIII",
    "affine_forward_naive": "PPPPPIII",
    "affine_backward": "PPPPPPPIII",
    "affine_backward_naive": "PPPPPPPIII",
    "relu_forward": "PPPZ",
    "relu_backward": "PPPPZ",
    "softmax_loss": "PPPPPII",
    "softmax_loss_naive": "PPPPPII",
    "affine_relu_forward": "PPPPPIII",
    "affine_relu_backward": "PPPPPPPPIII",
    "conv_forward": "PPPPPP",
    "conv_forward_naive": "PPPPPP",
    "conv_backward": "PPPPPPPP",
    "conv_backward_naive": "PPPPPPPP",
    "max_pool_forward": "PPPPP",
    "max_pool_forward_naive": "PPPPP",
    "max_pool_backward": "PPPPPP",
    "max_pool_backward_naive": "PPPPPP",
    "conv_relu_forward": "PPPPPP",
    "conv_relu_backward": "PPPPPPPPP",
    "conv_relu_pool_forward": "PPPPPPPPIII",
    "conv_relu_pool_backward": "PPPPPPPPPPIII",
    "batchnorm_forward": "PPPPPPPPPPII",
    "batchnorm_forward_naive": "PPPPPPPPPPII",
    "batchnorm_backward": "PPPPPPPPPII",
    "batchnorm_backward_naive": "PPPPPPPPPII",
    "spatial_batchnorm_forward": "PPPPPPPPPPIIII",
    "spatial_batchnorm_forward_naive": "PPPPPPPPPPIIII",
    "spatial_batchnorm_backward": "PPPPPPPPPIIII",
    "spatial_batchnorm_backward_naive": "PPPPPPPPPIIII",
    "layernorm_forward": "PPPPPPPDII",
    "layernorm_forward_naive": "PPPPPPPDII",
    "layernorm_backward": "PPPPPPPPPII",
    "layernorm_backward_naive": "PPPPPPPPPII",
    "spatial_groupnorm_forward": "PPPPPPPDIIIII",
    "spatial_groupnorm_forward_naive": "PPPPPPPDIIIII",
    "spatial_groupnorm_backward": "PPPPPPPPPIIIII",
    "spatial_groupnorm_backward_naive": "PPPPPPPPPIIIII",
    # update rules
    "sgd": "PPPZD",
    "sgd_momentum": "PPPPZDD",
    "rmsprop": "PPPPZDDD",
    "adam": "PPPPPZDDDDL",
}

_PLAIN_SIGS = {
    "cn_ctx_new": ("I", P),
    "cn_ctx_free": ("P", None),
    "cn_ctx_threads": ("P", I),
    "cn_ctx_set_threads": ("PI", I),
    "cn_ctx_error": ("P", S),
    "cn_strerror": ("I", S),
    "cn_ctx_build_info": ("P", S),
    "cn_conv_out": ("PPPP", I),
    "cn_max_pool_out": ("PPPP", I),
    "cn_rng_seed": ("PQ", None),
    "cn_spec_expand": ("S", S),
    "cn_net_new": ("PPSIIIIDDP", I),
    "cn_net_free": ("P", None),
    "cn_net_spec": ("P", S),
    "cn_net_dtype": ("P", I),
    "cn_net_num_classes": ("P", I),
    "cn_net_input": ("PPPP", None),
    "cn_net_reg": ("P", D),
    "cn_net_set_reg": ("PD", None),
    "cn_net_num_params": ("P", I),
    "cn_net_param_at": ("PI", ctypes.POINTER(Param)),
    "cn_net_param_get": ("PS", ctypes.POINTER(Param)),
    "cn_net_describe": ("PPPZ", I),
    "cn_net_reserve": ("PPI", I),
    "cn_net_loss": ("PPPPPPI", I),
    "cn_net_flops_per_image": ("P", D),
    "cn_net_save": ("PPSPI", I),
    "cn_net_load": ("PPSIP", I),
}

_CODES = {"P": P, "I": I, "Z": Z, "D": D, "L": L, "S": S, "Q": ctypes.c_uint64}

_lib = None
_lib_path = None
_ctx = None
_fns = {}
# One context, used by one thread at a time: every C call that takes the
# context (and the read of its error message) happens under this lock.
lock = threading.RLock()


def _candidates():
    env = os.environ.get("CONVNET_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.normpath(os.path.join(here, "..", "..", "build", "libconvnet.so"))]
    # `make install` writes _installed.py beside this file: the path of the
    # library installed with this copy of the package (PREFIX/lib/libconvnet.so.1)
    try:
        from . import _installed
        out.insert(0, _installed.LIBRARY)
    except ImportError:
        pass
    out.append("libconvnet.so.1")  # the soname, found by the dynamic loader's own search
    found = ctypes.util.find_library("convnet")
    if found:
        out.append(found)
    out.append("libconvnet.so")
    return out


def library():
    """The loaded ctypes.CDLL (loaded on first use)."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with lock:
        if _lib is not None:
            return _lib
        errors = []
        cands = _candidates()
        for path in cands:
            if os.sep in path and not os.path.exists(path):
                errors.append("%s: no such file" % path)
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                errors.append("%s: %s" % (path, e))
                continue
            _lib_path = path
            _lib = lib
            return _lib
        raise OSError(
            "convnet: cannot load libconvnet (build it with `make`, or set CONVNET_LIB "
            "to the path of libconvnet.so); tried: " + "; ".join(errors)
        )


def library_path():
    library()
    return _lib_path


def fn(name):
    """A C function by its full name, with argtypes/restype set; raises
    NotImplementedError if the loaded library lacks the symbol."""
    f = _fns.get(name)
    if f is not None:
        return f
    lib = library()
    try:
        f = getattr(lib, name)
    except AttributeError:
        raise NotImplementedError(
            "convnet: %s lacks the symbol %s (rebuild the library with `make`)" % (_lib_path, name)
        ) from None
    if name in _PLAIN_SIGS:
        codes, res = _PLAIN_SIGS[name]
    else:
        base = name[3:]
        if base.endswith("_f32") or base.endswith("_f64"):
            base = base[:-4]
        codes, res = _LAYER_SIGS[base], I
    f.argtypes = [_CODES[c] for c in codes]
    f.restype = res
    _fns[name] = f
    return f


def layer_fn(base, dt):
    return fn("cn_%s_%s" % (base, "f32" if dt == np.float32 else "f64"))


def ctx():
    """The module's cn_ctx (created on first use with every core)."""
    global _ctx
    if _ctx is None:
        with lock:
            if _ctx is None:
                c = fn("cn_ctx_new")(0)
                if not c:
                    raise MemoryError("convnet: cn_ctx_new failed (out of memory)")
                _ctx = c
    return _ctx


def error_message():
    m = fn("cn_ctx_error")(ctx())
    return m.decode("utf-8", "replace") if m else ""


# the Python exception of each status code (others: RuntimeError)
_EXCEPTIONS = {CN_EINVAL: ValueError, CN_ENOMEM: MemoryError, CN_EIO: IOError, CN_EFORMAT: IOError,
               CN_ENUM: FloatingPointError, CN_EINTR: KeyboardInterrupt}


def raise_for(rc, msg=None):
    if msg is None or not msg:
        m = fn("cn_strerror")(rc)
        msg = m.decode() if m else "error %d" % rc
    if rc in _EXCEPTIONS:
        raise _EXCEPTIONS[rc](msg)
    raise RuntimeError("%s (status %d)" % (msg, rc))


def call_ctx(f, *args):
    """Call f(ctx, *args) under the lock; a nonzero status raises with the
    context's message."""
    with lock:
        c = ctx()
        rc = f(c, *args)
        if rc != CN_OK:
            raise_for(rc, error_message())


def call_layer(base, dt, *args):
    call_ctx(layer_fn(base, dt), *args)


def set_num_threads(n):
    """Threads used by the library (n <= 0: every core)."""
    n = int(n)
    with lock:
        fn("cn_ctx_set_threads")(ctx(), n)


def get_num_threads():
    with lock:
        return fn("cn_ctx_threads")(ctx())


def build_info():
    with lock:
        s = fn("cn_ctx_build_info")(ctx())
    return s.decode() if s else ""


# ---- arrays --------------------------------------------------------------
def asarray(a):
    return a if isinstance(a, np.ndarray) else np.asarray(a)


def pick_dtype(*arrays):
    """float32 when every array is native float32, float64 otherwise (as
    numpy's promotion would give for float inputs; other dtypes -> float64)."""
    for a in arrays:
        if a is None:
            continue
        if asarray(a).dtype != np.dtype(np.float32) or not asarray(a).dtype.isnative:
            return np.float64
    return np.float32


def carr(a, dt):
    """A C-contiguous, aligned, native array of dtype dt (no copy if a
    already is one)."""
    return np.require(asarray(a), dtype=dt, requirements=["C", "A"])


def ptr(a):
    return None if a is None else a.ctypes.data


def as_int(v, name):
    """An integer argument (int or integral numpy scalar) within C int range."""
    try:
        if isinstance(v, (float, np.floating)):
            if float(v) != int(v):
                raise TypeError
            iv = int(v)
        else:
            iv = int(operator.index(v))
    except (TypeError, ValueError, OverflowError):
        raise ValueError("%s must be an integer, got %r" % (name, v)) from None
    if not -INT_MAX <= iv <= INT_MAX:
        raise ValueError("%s=%d is out of range" % (name, iv))
    return iv


def check_dims(shape, what):
    for d in shape:
        if d > INT_MAX:
            raise ValueError("%s: dimension %d is too large for the C library" % (what, d))


def conv_out(N, C, H, W, F, HH, WW, stride, pad):
    """(ConvShape, Ho, Wo), validated by the library (its message on error)."""
    s = ConvShape(N, C, H, W, F, HH, WW, stride, pad)
    ho, wo = ctypes.c_int(), ctypes.c_int()
    call_ctx(fn("cn_conv_out"), ctypes.byref(s), ctypes.byref(ho), ctypes.byref(wo))
    return s, ho.value, wo.value


def pool_out(N, C, H, W, ph, pw, stride):
    s = PoolShape(N, C, H, W, ph, pw, stride)
    ho, wo = ctypes.c_int(), ctypes.c_int()
    call_ctx(fn("cn_max_pool_out"), ctypes.byref(s), ctypes.byref(ho), ctypes.byref(wo))
    return s, ho.value, wo.value
