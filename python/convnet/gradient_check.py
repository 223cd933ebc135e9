"""The original cs231n/gradient_check.py (pure numpy): centred numeric
gradients and the relative error."""
from random import randrange

import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array",
           "grad_check_sparse", "rel_error"]


def rel_error(x, y):
    """max |x - y| / max(1e-8, |x| + |y|), elementwise then the max."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _both_sides(f, x, ix, h):
    """(f(x + h e_ix), f(x - h e_ix)): x[ix] is perturbed in place and
    restored."""
    oldval = x[ix]
    x[ix] = oldval + h
    fxph = f(x)
    x[ix] = oldval - h
    fxmh = f(x)
    x[ix] = oldval
    return fxph, fxmh


def _centred_differences(f, x, h, slope, verbose=False):
    """grad[ix] = slope(f(x + h e_ix), f(x - h e_ix)) for every element of x
    in nditer's order (the original's loop); verbose prints each."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        grad[ix] = slope(*_both_sides(f, x, ix, h))
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient(f, x, verbose=True, h=0.00001):
    """Numeric gradient of the scalar function f at x (x is perturbed in
    place and restored): grad[i] = (f(x + h e_i) - f(x - h e_i)) / 2h."""
    return _centred_differences(f, x, h, lambda fxph, fxmh: (fxph - fxmh) / (2 * h), verbose)


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of sum(f(x) * df) with respect to x, for a function
    f returning an array (x is perturbed in place and restored)."""
    # f may return a view of a buffer it reuses: keep a copy of each side
    return _centred_differences(lambda v: np.array(f(v), copy=True), x, h,
                                lambda pos, neg: np.sum((pos - neg) * df) / (2 * h))


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5):
    """Compare the numeric and analytic gradient at a few random elements."""
    for _ in range(num_checks):
        ix = tuple(randrange(m) for m in x.shape)
        fxph, fxmh = _both_sides(f, x, ix, h)
        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = analytic_grad[ix]
        rel = abs(grad_numerical - grad_analytic) / (abs(grad_numerical) + abs(grad_analytic) + 1e-12)
        print("numerical: %f analytic: %f, relative error: %e" % (grad_numerical, grad_analytic, rel))
