"""The original cs231n/optim.py: first-order update rules, each
rule(w, dw, config=None) -> (next_w, config), backed by the C cn_sgd_* etc.

config keys and defaults as the original:
  sgd:          learning_rate 1e-2
  sgd_momentum: learning_rate 1e-2, momentum 0.9, velocity (zeros)
  rmsprop:      learning_rate 1e-2, decay_rate 0.99, epsilon 1e-8, cache (zeros)
  adam:         learning_rate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8,
                m, v (zeros), t (0; incremented before use)
next_w is a new array (the caller's w is not modified); the moment arrays
stored in config are new arrays too. next_w has w's dtype when it is
float32 or float64 (float64 otherwise).
"""
import numpy as np

from . import _lib
from ._lib import asarray, ptr

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]


def _prep(w, dw, who):
    w, dw = asarray(w), asarray(dw)
    dt = np.float32 if (w.dtype == np.float32 and w.dtype.isnative) else np.float64
    if dw.shape != w.shape:
        raise ValueError("%s: dw has shape %s but w has %s" % (who, dw.shape, w.shape))
    next_w = np.array(w, dtype=dt, order="C", copy=True)
    dw = _lib.carr(dw, dt)
    return next_w, dw, dt


def _begin(w, dw, config, who, **defaults):
    """A rule's start: config (a new dict when None) with the rule's defaults
    set where missing, in the original's order, then _prep's next_w, dw, dt."""
    if config is None:
        config = {}
    for key, value in defaults.items():
        config.setdefault(key, value)
    next_w, dw, dt = _prep(w, dw, who)
    return config, next_w, dw, dt


def _state(config, key, w, dt, who):
    v = config.get(key)
    if v is None:
        return np.zeros(w.shape, dt)
    v = asarray(v)
    if v.shape != w.shape:
        raise ValueError("%s: config['%s'] has shape %s but w has %s" % (who, key, v.shape, w.shape))
    return np.array(v, dtype=dt, order="C", copy=True)


def sgd(w, dw, config=None):
    """Vanilla SGD: w - learning_rate * dw."""
    config, next_w, dw, dt = _begin(w, dw, config, "sgd", learning_rate=1e-2)
    _lib.call_layer("sgd", dt, ptr(next_w), ptr(dw), next_w.size, float(config["learning_rate"]))
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """v = momentum * v - learning_rate * dw; next_w = w + v."""
    config, next_w, dw, dt = _begin(w, dw, config, "sgd_momentum", learning_rate=1e-2, momentum=0.9)
    v = _state(config, "velocity", next_w, dt, "sgd_momentum")
    _lib.call_layer("sgd_momentum", dt, ptr(next_w), ptr(dw), ptr(v), next_w.size,
                    float(config["learning_rate"]), float(config["momentum"]))
    config["velocity"] = v
    return next_w, config


def rmsprop(w, dw, config=None):
    """cache = decay_rate * cache + (1 - decay_rate) * dw**2;
    next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)."""
    config, next_w, dw, dt = _begin(w, dw, config, "rmsprop", learning_rate=1e-2, decay_rate=0.99,
                                    epsilon=1e-8)
    cache = _state(config, "cache", next_w, dt, "rmsprop")
    _lib.call_layer("rmsprop", dt, ptr(next_w), ptr(dw), ptr(cache), next_w.size,
                    float(config["learning_rate"]), float(config["decay_rate"]), float(config["epsilon"]))
    config["cache"] = cache
    return next_w, config


def adam(w, dw, config=None):
    """Adam with bias correction; t is incremented before use."""
    config, next_w, dw, dt = _begin(w, dw, config, "adam", learning_rate=1e-3, beta1=0.9, beta2=0.999,
                                    epsilon=1e-8, m=None, v=None, t=0)
    m = _state(config, "m", next_w, dt, "adam")
    v = _state(config, "v", next_w, dt, "adam")
    t = int(config["t"]) + 1
    _lib.call_layer("adam", dt, ptr(next_w), ptr(dw), ptr(m), ptr(v), next_w.size,
                    float(config["learning_rate"]), float(config["beta1"]), float(config["beta2"]),
                    float(config["epsilon"]), t)
    config["m"], config["v"], config["t"] = m, v, t
    return next_w, config
