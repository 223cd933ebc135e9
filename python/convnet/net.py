"""Nets composed from a spec (the C cn_net), seen from numpy.

`Net.params` is a dict-like of numpy arrays that ALIAS the C parameter
memory: changing an array in place (model.params['W1'][0, 0, 0, 0] += h)
changes the model; assigning (model.params['W1'] = arr) copies arr into
the C memory (the shape must match, ValueError otherwise). Assigning a
whole dict (model.params = best_params) copies every entry.
"""
import ctypes

try:
    from collections.abc import MutableMapping
except ImportError:  # pragma: no cover
    from collections import MutableMapping

import numpy as np

from . import _lib
from ._lib import as_int, asarray, carr, ptr
from .layers import _labels

__all__ = ["Net", "ParamDict", "spec_expand"]


def spec_expand(spec):
    """A preset name ("three-layer") expanded to its spec; other specs unchanged."""
    s = _lib.fn("cn_spec_expand")(spec.encode())
    return s.decode() if s else spec


class _NetHandle(object):
    """Owns the cn_net; freed when the Net and every parameter array that
    aliases its memory are gone."""

    def __init__(self, p):
        self.p = p

    def __del__(self):
        p, self.p = self.p, None
        if p:
            try:
                _lib.fn("cn_net_free")(p)
            except Exception:  # interpreter shutdown
                pass


class _Mem(object):
    """Exposes C memory to numpy while keeping its owner alive."""

    def __init__(self, owner, addr, shape, dt):
        self._owner = owner
        self.__array_interface__ = {
            "data": (addr, False),
            "shape": tuple(shape),
            "typestr": np.dtype(dt).str,
            "version": 3,
        }


def _alias(owner, addr, shape, dt):
    return np.asarray(_Mem(owner, addr, shape, dt))


class ParamDict(MutableMapping):
    """name -> numpy array aliasing a C parameter. Setting a key copies the
    value into the C memory (same shape required); keys cannot be added or
    removed. copy() gives a plain dict of independent copies."""

    def __init__(self, arrays, what):
        self._arrays = arrays
        self._what = what

    def __getitem__(self, k):
        return self._arrays[k]

    def __setitem__(self, k, v):
        try:
            a = self._arrays[k]
        except KeyError:
            raise KeyError("%s has no parameter %r (it has %s)" % (self._what, k, ", ".join(self._arrays))) from None
        v = asarray(v)
        if v.shape != a.shape:
            raise ValueError("%s: parameter %s has shape %s, cannot assign an array of shape %s"
                             % (self._what, k, a.shape, v.shape))
        if v is a:
            return
        a[...] = v

    def __delitem__(self, k):
        raise TypeError("%s: parameters of a C net cannot be removed" % self._what)

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def __contains__(self, k):
        return k in self._arrays

    def copy(self):
        return {k: v.copy() for k, v in self._arrays.items()}

    def __repr__(self):
        return "{%s}" % ", ".join("%r: array%s %s" % (k, v.shape, v.dtype.name) for k, v in self._arrays.items())


_DTYPES = {np.dtype(np.float32): _lib.CN_F32, np.dtype(np.float64): _lib.CN_F64}


class Net(object):
    """A net from a spec, e.g. Net("conv16x3-relu-pool2-affine10",
    input_dim=(3, 32, 32)). See the README for the spec grammar.

    loss(X, y=None): scores (N, classes) when y is None (test mode), else
    (loss, grads) in train mode, grads a dict of new arrays.
    The initial weights are weight_scale * N(0, 1) from a seed drawn with
    np.random.randint (np.random.seed makes them reproducible) unless a
    seed is given.
    """

    def __init__(self, spec, input_dim=(3, 32, 32), weight_scale=1e-3, reg=0.0,
                 dtype=np.float32, seed=None):
        dt = np.dtype(dtype)
        if dt not in _DTYPES:
            raise ValueError("Net: dtype must be float32 or float64, got %s" % dt)
        input_dim = tuple(input_dim)
        if len(input_dim) != 3:
            raise ValueError("Net: input_dim must be (C, H, W), got %r" % (input_dim,))
        C, H, W = (as_int(v, "Net: input_dim") for v in input_dim)
        if seed is None:
            seed = int(np.random.randint(0, 2**62, dtype=np.int64))
        rng = _lib.Rng()
        _lib.fn("cn_rng_seed")(ctypes.byref(rng), int(seed) & (2**64 - 1))
        out = ctypes.c_void_p()
        _lib.call_ctx(_lib.fn("cn_net_new"), ctypes.byref(out), str(spec).encode(), C, H, W,
                      _DTYPES[dt], float(weight_scale), float(reg), ctypes.byref(rng))
        self._adopt(out.value)

    # -- construction from a C pointer -------------------------------------
    def _adopt(self, p):
        f = _lib.fn
        self._h = _NetHandle(p)
        self._spec = f("cn_net_spec")(p).decode()
        self._dt = np.float32 if f("cn_net_dtype")(p) == _lib.CN_F32 else np.float64
        c, h, w = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        f("cn_net_input")(p, ctypes.byref(c), ctypes.byref(h), ctypes.byref(w))
        self._input_dim = (c.value, h.value, w.value)
        self._classes = f("cn_net_num_classes")(p)
        params, grads, state = {}, {}, {}
        for i in range(f("cn_net_num_params")(p)):
            cp = f("cn_net_param_at")(p, i).contents
            name = cp.name.decode()
            shape = tuple(cp.shape[d] for d in range(cp.ndim))
            arr = _alias(self._h, cp.data, shape, self._dt)
            if cp.trainable:
                params[name] = arr
                grads[name] = _alias(self._h, cp.grad, shape, self._dt)
            else:
                state[name] = arr
        self._params = ParamDict(params, "net")
        self._grads = grads
        self._state = ParamDict(state, "net state")

    @classmethod
    def _from_pointer(cls, p):
        obj = cls.__new__(cls)
        Net._adopt(obj, p)
        return obj

    # -- properties ------------------------------------------------------------
    @property
    def params(self):
        """Trainable parameters (W1 b1 ... gamma1 beta1 ...), aliasing C memory."""
        return self._params

    @params.setter
    def params(self, values):
        for k, v in values.items():
            self._params[k] = v

    @property
    def state(self):
        """Non-trainable state (batch norm running_mean<k>/running_var<k>)."""
        return self._state

    @property
    def reg(self):
        return _lib.fn("cn_net_reg")(self._h.p)

    @reg.setter
    def reg(self, value):
        value = float(value)
        if not (value >= 0) or not np.isfinite(value):
            raise ValueError("reg must be finite and >= 0, got %r" % value)
        _lib.fn("cn_net_set_reg")(self._h.p, value)

    @property
    def dtype(self):
        return self._dt

    @property
    def spec(self):
        return self._spec

    @property
    def input_dim(self):
        return self._input_dim

    @property
    def num_classes(self):
        return self._classes

    def flops_per_image(self):
        return _lib.fn("cn_net_flops_per_image")(self._h.p)

    def describe(self):
        n = 4096
        while True:
            buf = ctypes.create_string_buffer(n)
            with _lib.lock:
                rc = _lib.fn("cn_net_describe")(_lib.ctx(), self._h.p, buf, n)
            if rc == 0 or n > 1 << 22:
                return buf.value.decode()
            n *= 4

    def __repr__(self):
        return "<convnet.Net %s input=%s dtype=%s>" % (self._spec, self._input_dim, np.dtype(self._dt).name)

    # -- the model interface ---------------------------------------------------
    def loss(self, X, y=None):
        """X (N, C, H, W). y None: returns scores (N, classes). Else returns
        (loss, grads): data loss + 0.5 * reg * sum(W**2), and a dict of new
        gradient arrays with the params' names and shapes."""
        X = asarray(X)
        if X.ndim != 4 or tuple(X.shape[1:]) != self._input_dim:
            raise ValueError("loss: X must have shape (N, %d, %d, %d), got %s"
                             % (self._input_dim + (tuple(X.shape),)))
        N = X.shape[0]
        if N == 0:
            raise ValueError("loss: X holds no samples")
        _lib.check_dims((N,), "loss")
        X = carr(X, self._dt)
        f = _lib.fn("cn_net_loss")
        if y is None:
            scores = np.empty((N, self._classes), self._dt)
            _lib.call_ctx(f, self._h.p, None, ptr(scores), ptr(X), None, N)
            return scores
        y = _labels(y, N, "loss")
        loss = ctypes.c_double()
        with _lib.lock:
            _lib.call_ctx(f, self._h.p, ctypes.byref(loss), None, ptr(X), ptr(y), N)
            grads = {k: g.copy() for k, g in self._grads.items()}
        return loss.value, grads

    # -- files and pickling ----------------------------------------------------
    def save(self, path):
        """Save as a convnet model file (safetensors; the CLI reads it)."""
        _lib.call_ctx(_lib.fn("cn_net_save"), self._h.p, str(path).encode(), None, 0)

    @classmethod
    def load(cls, path, best=False):
        """Load a model file or a Solver checkpoint written by the CLI/library
        (best=True: the checkpoint's best parameters)."""
        out = ctypes.c_void_p()
        _lib.call_ctx(_lib.fn("cn_net_load"), ctypes.byref(out), str(path).encode(), 1 if best else 0, None)
        return Net._from_pointer(out.value)

    def __getstate__(self):
        values = {k: v.copy() for k, v in self._params.items()}
        values.update({k: v.copy() for k, v in self._state.items()})
        extra = {k: v for k, v in self.__dict__.items()
                 if k not in ("_h", "_params", "_grads", "_state", "_spec", "_dt", "_input_dim", "_classes")}
        return {"spec": self._spec, "input_dim": self._input_dim, "dtype": np.dtype(self._dt).name,
                "reg": self.reg, "values": values, "extra": extra}

    def __setstate__(self, st):
        Net.__init__(self, st["spec"], st["input_dim"], 0.0, st["reg"], np.dtype(st["dtype"]), seed=0)
        for k, v in st["values"].items():
            if k in self._params:
                self._params[k] = v
            else:
                self._state[k] = v
        self.__dict__.update(st.get("extra", {}))

    def __del__(self):
        # Drop our reference; the C net is freed (cn_net_free) as soon as no
        # parameter array aliasing its memory is left either.
        h = self.__dict__.pop("_h", None)
        del h
