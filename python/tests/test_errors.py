"""Errors: C status codes arrive as exceptions with the C message, Python
checks stop bad shapes before C sees them, the interpreter survives, and
the library/symbol loading fails politely. Also threads."""
import os
import subprocess
import sys
import threading

import numpy as np

import checklib as ck

import convnet
from convnet import _lib, fast_layers, layer_utils, layers

rs = np.random.RandomState(0)
cp = {"stride": 1, "pad": 0}
pp = {"pool_height": 2, "pool_width": 2, "stride": 2}


def t_c_errors():
    x = rs.randn(2, 3, 4, 4)
    ck.raises("conv filter larger than the padded input -> ValueError (C message)", ValueError,
              lambda: fast_layers.conv_forward_fast(x, rs.randn(2, 3, 7, 7), np.zeros(2), {"stride": 1, "pad": 1}),
              "does not fit the padded input")
    ck.raises("conv_forward_naive filter too large -> ValueError (C message)", ValueError,
              lambda: layers.conv_forward_naive(x, rs.randn(2, 3, 5, 5), np.zeros(2), cp), "does not fit")
    ck.raises("conv stride 0 -> ValueError (C message)", ValueError,
              lambda: fast_layers.conv_forward_fast(x, rs.randn(2, 3, 3, 3), np.zeros(2), {"stride": 0, "pad": 0}),
              "stride must be > 0")
    ck.raises("conv negative pad -> ValueError (C message)", ValueError,
              lambda: fast_layers.conv_forward_fast(x, rs.randn(2, 3, 3, 3), np.zeros(2), {"stride": 1, "pad": -1}),
              "pad must be >= 0")
    ck.raises("softmax label out of range -> ValueError (C message)", ValueError,
              lambda: layers.softmax_loss(rs.randn(3, 4), np.array([0, 4, 1])), "label y[1]=4 is out of range")
    ck.raises("softmax negative label -> ValueError (C message)", ValueError,
              lambda: layers.softmax_loss(rs.randn(3, 4), np.array([0, 1, -1])), "out of range")
    ck.raises("softmax label beyond int32 -> ValueError", ValueError,
              lambda: layers.softmax_loss(rs.randn(2, 4), np.array([0, 2**33])), "out of range")
    ck.raises("pool window larger than input -> ValueError (C message)", ValueError,
              lambda: fast_layers.max_pool_forward_fast(rs.randn(1, 1, 3, 3), {"pool_height": 4, "pool_width": 2,
                                                                               "stride": 1}), "does not fit")
    ck.raises("pool stride 0 -> ValueError (C message)", ValueError,
              lambda: layers.max_pool_forward_naive(rs.randn(1, 1, 4, 4), dict(pp, stride=0)), "stride must be > 0")
    ck.raises("batchnorm momentum 2 -> ValueError (C message)", ValueError,
              lambda: layers.batchnorm_forward(rs.randn(4, 3), np.ones(3), np.zeros(3),
                                               {"mode": "train", "momentum": 2.0}), "momentum")
    ck.raises("layernorm eps 0 -> ValueError (C message)", ValueError,
              lambda: layers.layernorm_forward(rs.randn(4, 3), np.ones(3), np.zeros(3), {"eps": 0.0}), "eps")
    ck.raises("affine with N=0 -> ValueError (C message)", ValueError,
              lambda: layers.affine_forward(np.zeros((0, 3)), np.ones((3, 2)), np.zeros(2)), "must be positive")


def t_python_checks():
    x = rs.randn(2, 3, 5, 5)
    w = rs.randn(4, 3, 3, 3)
    ck.raises("conv channel mismatch -> ValueError", ValueError,
              lambda: fast_layers.conv_forward_fast(x, rs.randn(4, 2, 3, 3), np.zeros(4), cp), "channels")
    ck.raises("conv x not 4-D -> ValueError", ValueError,
              lambda: fast_layers.conv_forward_fast(x[0], w, np.zeros(4), cp), "4-dimensional")
    ck.raises("conv bias of the wrong size -> ValueError", ValueError,
              lambda: fast_layers.conv_forward_fast(x, w, np.zeros(3), cp), "b has 3 values")
    ck.raises("conv missing stride -> KeyError (as the original)", KeyError,
              lambda: fast_layers.conv_forward_fast(x, w, np.zeros(4), {"pad": 1}))
    ck.raises("conv fractional stride -> ValueError", ValueError,
              lambda: fast_layers.conv_forward_fast(x, w, np.zeros(4), {"stride": 1.5, "pad": 1}), "integer")
    out, cache = fast_layers.conv_forward_fast(x, w, np.zeros(4), cp)
    ck.raises("conv_backward dout of the wrong shape -> ValueError", ValueError,
              lambda: fast_layers.conv_backward_fast(np.zeros((2, 4, 3, 2)), cache), "dout has shape")
    ck.raises("backward with another layer's cache -> ValueError", ValueError,
              lambda: fast_layers.max_pool_backward_fast(out, cache), "expected the cache")
    ck.raises("affine feature mismatch -> ValueError", ValueError,
              lambda: layers.affine_forward(rs.randn(2, 5), rs.randn(4, 3), np.zeros(3)), "features")
    ck.raises("softmax labels of the wrong length -> ValueError", ValueError,
              lambda: layers.softmax_loss(rs.randn(3, 4), np.array([0, 1])), "shape (3,)")
    ck.raises("softmax float labels with fractions -> ValueError", ValueError,
              lambda: layers.softmax_loss(rs.randn(2, 4), np.array([0.5, 1.0])), "integers")
    ck.raises("batchnorm invalid mode -> ValueError", ValueError,
              lambda: layers.batchnorm_forward(rs.randn(4, 3), np.ones(3), np.zeros(3), {"mode": "eval"}),
              'Invalid forward batchnorm mode "eval"')
    ck.raises("batchnorm gamma of the wrong size -> ValueError", ValueError,
              lambda: layers.batchnorm_forward(rs.randn(4, 3), np.ones(2), np.zeros(3), {"mode": "train"}), "gamma")
    ck.raises("batchnorm running_mean of the wrong size -> ValueError", ValueError,
              lambda: layers.batchnorm_forward(rs.randn(4, 3), np.ones(3), np.zeros(3),
                                               {"mode": "train", "running_mean": np.zeros(5)}), "running_mean")
    _, tc = layers.batchnorm_forward(rs.randn(4, 3), np.ones(3), np.zeros(3),
                                     {"mode": "test", "running_mean": np.zeros(3), "running_var": np.ones(3)})
    ck.raises("batchnorm_backward of a test-mode cache -> ValueError", ValueError,
              lambda: layers.batchnorm_backward(np.ones((4, 3)), tc), "test mode")
    ck.raises("groupnorm G not dividing C -> ValueError", ValueError,
              lambda: layers.spatial_groupnorm_forward(rs.randn(2, 6, 3, 3), np.ones((1, 6, 1, 1)),
                                                       np.zeros((1, 6, 1, 1)), 4, {}), "does not divide")
    ck.raises("conv_relu_pool pool larger than the conv output -> ValueError (C message)", ValueError,
              lambda: layer_utils.conv_relu_pool_forward(x, w, np.zeros(4), cp,
                                                         {"pool_height": 4, "pool_width": 4, "stride": 1}),
              "does not fit")
    # after all these errors the library still works
    out, _ = layers.affine_forward(np.ones((1, 2)), np.ones((2, 1)), np.zeros(1))
    ck.close("library works after errors", out, np.array([[2.0]]), 0)


SCRIPT = r"""
import numpy as np, convnet
from convnet import fast_layers, layers
n = 0
for f in (lambda: fast_layers.conv_forward_fast(np.ones((1, 1, 2, 2)), np.ones((1, 1, 9, 9)), np.zeros(1), {"stride": 1, "pad": 0}),
          lambda: layers.softmax_loss(np.ones((2, 2)), np.array([5, 0])),
          lambda: fast_layers.max_pool_forward_fast(np.ones((1, 1, 2, 2)), {"pool_height": 3, "pool_width": 3, "stride": 1}),
          lambda: convnet.Net("conv3x9p0-affine2", (1, 4, 4))):
    try:
        f()
    except ValueError:
        n += 1
print("ALIVE", n)
"""


def t_subprocess():
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    ck.ok("errors in a fresh interpreter: exceptions, no crash", r.returncode == 0 and "ALIVE 4" in r.stdout,
          "rc=%d out=%r err=%r" % (r.returncode, r.stdout.strip(), r.stderr.strip()[-300:]))
    env2 = dict(env, CONVNET_LIB="/nonexistent/libconvnet.so")
    code = ("import convnet, numpy as np\n"
            "g = convnet.rel_error(np.ones(2), np.ones(2))\n"
            "try:\n    convnet.relu_forward(np.ones(2))\nexcept OSError as e:\n    print('OSERROR', 'CONVNET_LIB' in str(e))\n")
    r = subprocess.run([sys.executable, "-c", code], env=env2, capture_output=True, text=True, timeout=60)
    ck.ok("missing library: import works, first C call raises OSError naming CONVNET_LIB",
          r.returncode == 0 and "OSERROR True" in r.stdout, "rc=%d out=%r err=%r" % (r.returncode, r.stdout, r.stderr[-300:]))


def t_symbols_threads():
    ck.raises("a symbol the library lacks -> NotImplementedError", NotImplementedError,
              lambda: _lib.fn("cn_no_such_function_f32"), "cn_no_such_function_f32")
    convnet.set_num_threads(1)
    ck.equal("set_num_threads(1)", convnet.get_num_threads(), 1)
    x, w, b = rs.randn(8, 3, 12, 12), rs.randn(6, 3, 3, 3), rs.randn(6)
    ref, _ = fast_layers.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    convnet.set_num_threads(2)
    ck.equal("set_num_threads(2)", convnet.get_num_threads(), 2)
    ck.close("same result with 2 threads", fast_layers.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})[0], ref, 1e-12)
    convnet.set_num_threads(0)
    ck.ok("set_num_threads(0) -> every core", convnet.get_num_threads() >= 1)
    # several Python threads share the module's context safely
    results, errors = [], []

    def worker(i):
        try:
            for _ in range(20):
                o, c = fast_layers.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
                try:
                    layers.softmax_loss(np.ones((2, 3)), np.array([0, 7]))
                except ValueError as e:
                    if "y[1]=7" not in str(e):
                        errors.append("wrong message: %s" % e)
            results.append(np.max(np.abs(o - ref)))
        except Exception as e:  # pragma: no cover
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ck.ok("4 Python threads: results and error messages intact", not errors and len(results) == 4
          and max(results) < 1e-12, "%s %s" % (errors[:2], results))


for name, fn in [("c_errors", t_c_errors), ("python_checks", t_python_checks), ("subprocess", t_subprocess),
                 ("symbols_threads", t_symbols_threads)]:
    ck.run(name, fn)
ck.finish()
