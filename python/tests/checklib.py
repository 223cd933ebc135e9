"""Tiny check harness for the Python tests: one line per check
(PASS/FAIL name err=... tol=...), RESULT <passed> <failed> at the end."""
import sys
import traceback

import numpy as np

_passed = 0
_failed = 0


def _line(ok, name, err, tol, note=""):
    global _passed, _failed
    if ok:
        _passed += 1
    else:
        _failed += 1
    print("%s %s err=%s tol=%s%s" % ("PASS" if ok else "FAIL", name, err, tol, (" " + note) if note else ""))
    sys.stdout.flush()


def scaled_err(a, ref):
    """max |a - ref| / max |ref| (0 when both are empty)."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(ref)), 1e-30)
    return float(np.max(np.abs(a - ref)) / scale)


def rel_err(a, ref):
    """The original's rel_error: max |a - b| / max(1e-8, |a| + |b|)."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf")
    return float(np.max(np.abs(a - ref) / np.maximum(1e-8, np.abs(a) + np.abs(ref))))


def close(name, a, ref, tol, kind="scaled"):
    """Compare arrays (shape must match): scaled (default) or rel error."""
    try:
        err = scaled_err(a, ref) if kind == "scaled" else rel_err(a, ref)
        note = "" if np.shape(a) == np.shape(ref) else "shape %s vs %s" % (np.shape(a), np.shape(ref))
        _line(err <= tol, name, "%.3g" % err, "%.3g" % tol, note)
    except Exception as e:  # a check must report, not stop the script
        _line(False, name, "exception", tol, repr(e))


def ok(name, cond, note=""):
    _line(bool(cond), name, 0 if cond else 1, 0, note)


def equal(name, a, b):
    good = a == b
    _line(bool(good), name, 0 if good else 1, 0, "" if good else "%r != %r" % (a, b))


def raises(name, exc, fn, contains=None):
    """fn() must raise exc (and its message contain `contains`)."""
    try:
        fn()
    except exc as e:
        msg = str(e)
        good = contains is None or contains in msg
        _line(good, name, 0 if good else 1, 0, "message: %s" % msg)
        return
    except Exception as e:
        _line(False, name, 1, 0, "raised %s: %s" % (type(e).__name__, e))
        return
    _line(False, name, 1, 0, "did not raise %s" % exc.__name__)


def run(name, fn):
    """Run a group of checks; an unexpected exception counts as one failure."""
    try:
        fn()
    except Exception:
        _line(False, name, "exception", 0, traceback.format_exc().replace("\n", " | "))


def finish():
    print("RESULT %d %d" % (_passed, _failed))
    sys.stdout.flush()
    sys.exit(1 if _failed else 0)
