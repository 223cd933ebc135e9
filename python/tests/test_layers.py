"""Layers through the numpy module against independent numpy references
(tests/refs.py: the original formulas), both dtypes, plus numeric gradients
through the module (eval_numerical_gradient_array)."""
import numpy as np

import checklib as ck
import refs

import convnet
from convnet import fast_layers, layer_utils, layers
from convnet.gradient_check import eval_numerical_gradient_array

DTYPES = [(np.float64, 1e-10), (np.float32, 1e-5)]


def rnd(rs, shape, dt, scale=1.0):
    return (scale * rs.randn(*shape)).astype(dt)


def dtype_ok(name, arrays, dt):
    ck.ok(name, all(np.asarray(a).dtype == dt for a in arrays),
          "dtypes %s" % [np.asarray(a).dtype.name for a in arrays])


# ---- affine, relu, softmax -------------------------------------------------------
def t_affine():
    for dt, tol in DTYPES:
        n = np.dtype(dt).name
        rs = np.random.RandomState(1)
        x, w, b = rnd(rs, (4, 2, 3, 5), dt), rnd(rs, (30, 7), dt), rnd(rs, (7,), dt)
        out, cache = layers.affine_forward(x, w, b)
        ck.close("affine_forward %s" % n, out, refs.affine(x, w, b), tol)
        dout = rnd(rs, out.shape, dt)
        dx, dw, db = layers.affine_backward(dout, cache)
        rdx, rdw, rdb = refs.affine_back(dout, x, w)
        ck.equal("affine_backward dx shape %s" % n, dx.shape, x.shape)
        ck.close("affine_backward dx %s" % n, dx, rdx, tol)
        ck.close("affine_backward dw %s" % n, dw, rdw, tol)
        ck.close("affine_backward db %s" % n, db, rdb, tol)
        dtype_ok("affine dtypes %s" % n, [out, dx, dw, db], dt)

        x = rnd(rs, (6, 9), dt)
        out, cache = layers.relu_forward(x)
        ck.close("relu_forward %s" % n, out, np.maximum(x, 0), 0)
        dout = rnd(rs, x.shape, dt)
        ck.close("relu_backward %s" % n, layers.relu_backward(dout, cache), dout * (x > 0), 0)

        x, w, b = rnd(rs, (3, 4, 5), dt), rnd(rs, (20, 6), dt), rnd(rs, (6,), dt)
        out, cache = layer_utils.affine_relu_forward(x, w, b)
        a = refs.affine(x, w, b)
        ck.close("affine_relu_forward %s" % n, out, np.maximum(a, 0), tol)
        dout = rnd(rs, out.shape, dt)
        dx, dw, db = layer_utils.affine_relu_backward(dout, cache)
        rdx, rdw, rdb = refs.affine_back(dout * (a > 0), x, w)
        ck.close("affine_relu_backward dx %s" % n, dx, rdx, tol)
        ck.close("affine_relu_backward dw %s" % n, dw, rdw, tol)
        ck.close("affine_relu_backward db %s" % n, db, rdb, tol)

        x, y = rnd(rs, (8, 5), dt, 3.0), rs.randint(0, 5, size=8)
        loss, dx = layers.softmax_loss(x, y)
        rl, rdx = refs.softmax_loss(x, y)
        ck.close("softmax_loss loss %s" % n, loss, rl, tol)
        ck.close("softmax_loss dx %s" % n, dx, rdx, tol)
        dtype_ok("softmax_loss dx dtype %s" % n, [dx], dt)

    # hand-worked: uniform scores over C classes -> loss log(C)
    loss, dx = layers.softmax_loss(np.zeros((2, 4)), np.array([1, 3]))
    ck.close("softmax_loss uniform = log 4", loss, np.log(4), 1e-15)
    ck.close("softmax_loss uniform dx", dx, np.array([[1, -3, 1, 1], [1, 1, 1, -3]]) / 8.0, 1e-15)
    # hand-worked affine
    out, _ = layers.affine_forward(np.array([[1.0, 2.0]]), np.array([[1.0, 0.0, 2.0], [3.0, 1.0, -1.0]]),
                                   np.array([0.5, 0.0, 1.0]))
    ck.close("affine_forward by hand", out, np.array([[7.5, 2.0, 1.0]]), 0)


def t_svm_dropout():
    rs = np.random.RandomState(2)
    x, y = rs.randn(5, 4), rs.randint(0, 4, size=5)
    loss, dx = layers.svm_loss(x, y)
    rl, rdx = 0.0, np.zeros_like(x)
    for i in range(5):
        for j in range(4):
            if j == y[i]:
                continue
            m = x[i, j] - x[i, y[i]] + 1
            if m > 0:
                rl += m
                rdx[i, j] += 1
                rdx[i, y[i]] -= 1
    ck.close("svm_loss loss (loops)", loss, rl / 5, 1e-12)
    ck.close("svm_loss dx (loops)", dx, rdx / 5, 1e-12)
    x = rs.randn(200, 50) + 10
    out, cache = layers.dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 123})
    kept = out != 0
    ck.close("dropout train kept units scaled by 1/p", out[kept], x[kept] / 0.3, 1e-15)
    ck.close("dropout train keep fraction", kept.mean(), 0.3, 0.02 / 0.3)
    dout = rs.randn(*x.shape)
    ck.close("dropout_backward train", layers.dropout_backward(dout, cache), dout * kept / 0.3, 1e-15)
    out, cache = layers.dropout_forward(x, {"mode": "test", "p": 0.3})
    ck.close("dropout test identity", out, x, 0)


# ---- convolution -------------------------------------------------------------------
CONV_CASES = [
    # (N, C, H, W), (F, HH, WW), stride, pad
    ((2, 3, 6, 6), (4, 3, 3), 1, 1),
    ((2, 3, 7, 8), (3, 3, 3), 2, 1),   # the original's stride-2 case, odd size
    ((1, 2, 7, 5), (2, 3, 2), 2, 0),   # rectangular filter, H' floored
    ((3, 1, 5, 5), (2, 1, 1), 1, 0),   # 1x1
    ((2, 2, 4, 4), (3, 5, 5), 1, 2),   # filter larger than the unpadded input
]


def t_conv():
    for dt, tol in DTYPES:
        n = np.dtype(dt).name
        rs = np.random.RandomState(3)
        for (xs, (F, HH, WW), s, p) in CONV_CASES:
            tag = "x%s w%s s%d p%d %s" % (xs, (F, xs[1], HH, WW), s, p, n)
            x, w, b = rnd(rs, xs, dt), rnd(rs, (F, xs[1], HH, WW), dt), rnd(rs, (F,), dt)
            cp = {"stride": s, "pad": p}
            ref = refs.conv(x, w, b, s, p)
            for fwd, bwd, kind in ((layers.conv_forward_naive, layers.conv_backward_naive, "naive"),
                                   (fast_layers.conv_forward_fast, fast_layers.conv_backward_fast, "fast")):
                out, cache = fwd(x, w, b, cp)
                ck.close("conv_forward_%s %s" % (kind, tag), out, ref, tol)
                dout = rnd(rs, ref.shape, dt)
                dx, dw, db = bwd(dout, cache)
                rdx, rdw, rdb = refs.conv_back(dout, x, w, s, p)
                ck.close("conv_backward_%s dx %s" % (kind, tag), dx, rdx, tol)
                ck.close("conv_backward_%s dw %s" % (kind, tag), dw, rdw, tol)
                ck.close("conv_backward_%s db %s" % (kind, tag), db, rdb, tol)
                dtype_ok("conv_%s dtypes %s" % (kind, tag), [out, dx, dw, db], dt)

        # sandwiches
        x, w, b = rnd(rs, (2, 3, 8, 8), dt), rnd(rs, (4, 3, 3, 3), dt), rnd(rs, (4,), dt)
        cp, pp = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
        a = refs.conv(x, w, b, 1, 1)
        out, cache = layer_utils.conv_relu_forward(x, w, b, cp)
        ck.close("conv_relu_forward %s" % n, out, np.maximum(a, 0), tol)
        dout = rnd(rs, out.shape, dt)
        got = layer_utils.conv_relu_backward(dout, cache)
        for g, r, k in zip(got, refs.conv_back(dout * (a > 0), x, w, 1, 1), ("dx", "dw", "db")):
            ck.close("conv_relu_backward %s %s" % (k, n), g, r, tol)
        r = np.maximum(a, 0)
        out, cache = layer_utils.conv_relu_pool_forward(x, w, b, cp, pp)
        ck.close("conv_relu_pool_forward %s" % n, out, refs.pool(r, 2, 2, 2), tol)
        dout = rnd(rs, out.shape, dt)
        got = layer_utils.conv_relu_pool_backward(dout, cache)
        da = refs.pool_back(dout, r, 2, 2, 2) * (a > 0)
        for g, rr, k in zip(got, refs.conv_back(da, x, w, 1, 1), ("dx", "dw", "db")):
            ck.close("conv_relu_pool_backward %s %s" % (k, n), g, rr, tol)
        dtype_ok("conv_relu_pool dtypes %s" % n, [out] + list(got), dt)

    ck.ok("fast aliases are the fast path",
          fast_layers.conv_forward_strides is fast_layers.conv_forward_fast
          and fast_layers.conv_backward_im2col is fast_layers.conv_backward_fast
          and convnet.conv_forward_im2col is fast_layers.conv_forward_fast)
    # hand-worked: 1x1 input channel of ones, 3x3 ones filter, pad 1 -> neighbour counts
    out, _ = layers.conv_forward_naive(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1),
                                       {"stride": 1, "pad": 1})
    ck.close("conv by hand (neighbour counts)", out[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]), 0)


# ---- pooling -----------------------------------------------------------------------
POOL_CASES = [((2, 3, 8, 8), 2, 2, 2), ((2, 2, 7, 7), 3, 3, 2), ((1, 2, 5, 7), 2, 3, 1), ((2, 1, 9, 6), 4, 2, 3)]


def t_pool():
    for dt, tol in DTYPES:
        n = np.dtype(dt).name
        rs = np.random.RandomState(4)
        for xs, ph, pw, s in POOL_CASES:
            tag = "x%s %dx%d s%d %s" % (xs, ph, pw, s, n)
            x = rnd(rs, xs, dt)
            pp = {"pool_height": ph, "pool_width": pw, "stride": s}
            ref = refs.pool(x, ph, pw, s)
            for fwd, bwd, kind in ((layers.max_pool_forward_naive, layers.max_pool_backward_naive, "naive"),
                                   (fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast, "fast")):
                out, cache = fwd(x, pp)
                ck.close("max_pool_forward_%s %s" % (kind, tag), out, ref, 0)
                dout = rnd(rs, ref.shape, dt)
                dx = bwd(dout, cache)
                ck.close("max_pool_backward_%s %s" % (kind, tag), dx, refs.pool_back(dout, x, ph, pw, s), tol)
                dtype_ok("max_pool_%s dtypes %s" % (kind, tag), [out, dx], dt)
    # hand-worked ties: first maximum in row-major order gets the gradient
    x = np.array([[[[1.0, 5.0], [5.0, 0.0]]]])
    out, cache = fast_layers.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = fast_layers.max_pool_backward_fast(np.array([[[[3.0]]]]), cache)
    ck.close("max_pool tie by hand", dx, np.array([[[[0.0, 3.0], [0.0, 0.0]]]]), 0)


# ---- normalization ---------------------------------------------------------------
def t_batchnorm():
    for dt, tol in DTYPES:
        n = np.dtype(dt).name
        rs = np.random.RandomState(5)
        N, D = 10, 6
        x = rnd(rs, (N, D), dt, 3.0) + dt(2)
        gamma, beta = rnd(rs, (D,), dt), rnd(rs, (D,), dt)
        bp = {"mode": "train"}
        out, cache = layers.batchnorm_forward(x, gamma, beta, bp)
        rout, xhat, invstd, mu, var = refs.bn(x, gamma, beta, 1e-5)
        ck.close("batchnorm_forward train %s" % n, out, rout, tol)
        ck.ok("batchnorm running stats created %s" % n, "running_mean" in bp and "running_var" in bp)
        ck.close("batchnorm running_mean = 0.1 mean %s" % n, bp["running_mean"], 0.1 * mu, tol)
        ck.close("batchnorm running_var = 0.1 var %s" % n, bp["running_var"], 0.1 * var, tol)
        dtype_ok("batchnorm running stats dtype %s" % n, [bp["running_mean"], bp["running_var"], out], dt)
        # second train call with momentum 0.5 updates the stored stats
        rm0, rv0 = refs.f64(bp["running_mean"]), refs.f64(bp["running_var"])
        bp["momentum"] = 0.5
        layers.batchnorm_forward(x, gamma, beta, bp)
        ck.close("batchnorm running_mean momentum 0.5 %s" % n, bp["running_mean"], 0.5 * rm0 + 0.5 * mu, tol)
        ck.close("batchnorm running_var momentum 0.5 %s" % n, bp["running_var"], 0.5 * rv0 + 0.5 * var, tol)
        # test mode uses the running stats
        bp_t = {"mode": "test", "running_mean": mu.astype(dt), "running_var": var.astype(dt), "eps": 1e-3}
        out_t, _ = layers.batchnorm_forward(x, gamma, beta, bp_t)
        rt = refs.f64(gamma) * (refs.f64(x) - mu) / np.sqrt(var + 1e-3) + refs.f64(beta)
        ck.close("batchnorm_forward test %s" % n, out_t, rt, tol)
        dout = rnd(rs, (N, D), dt)
        rdx, rdg, rdb = refs.bn_back(dout, xhat, invstd, gamma)
        for fn, k in ((layers.batchnorm_backward, "batchnorm_backward"),
                      (layers.batchnorm_backward_alt, "batchnorm_backward_alt")):
            dx, dg, db = fn(dout, cache)
            ck.close("%s dx %s" % (k, n), dx, rdx, tol)
            ck.close("%s dgamma %s" % (k, n), dg, rdg, tol)
            ck.close("%s dbeta %s" % (k, n), db, rdb, tol)
            dtype_ok("%s dtypes %s" % (k, n), [dx, dg, db], dt)

        # spatial
        xs = rnd(rs, (3, 4, 5, 5), dt, 2.0) - dt(1)
        gamma, beta = rnd(rs, (4,), dt), rnd(rs, (4,), dt)
        bp = {"mode": "train", "momentum": 0.8, "eps": 1e-4}
        out, cache = layers.spatial_batchnorm_forward(xs, gamma, beta, bp)
        rout, xhat, invstd, mu, var = refs.bn(refs.to_rows(xs), gamma, beta, 1e-4)
        ck.close("spatial_batchnorm_forward %s" % n, out, refs.from_rows(rout, xs.shape), tol)
        ck.close("spatial_batchnorm running_mean %s" % n, bp["running_mean"], 0.2 * mu, tol)
        ck.close("spatial_batchnorm running_var %s" % n, bp["running_var"], 0.2 * var, tol)
        dout = rnd(rs, xs.shape, dt)
        dx, dg, db = layers.spatial_batchnorm_backward(dout, cache)
        rdx, rdg, rdb = refs.bn_back(refs.to_rows(dout), xhat, invstd, gamma)
        ck.close("spatial_batchnorm_backward dx %s" % n, dx, refs.from_rows(rdx, xs.shape), tol)
        ck.close("spatial_batchnorm_backward dgamma %s" % n, dg, rdg, tol)
        ck.close("spatial_batchnorm_backward dbeta %s" % n, db, rdb, tol)
        out_t, _ = layers.spatial_batchnorm_forward(xs, gamma, beta, dict(bp, mode="test"))
        rt = refs.f64(gamma).reshape(1, 4, 1, 1) * (refs.f64(xs) - refs.f64(bp["running_mean"]).reshape(1, 4, 1, 1)) \
            / np.sqrt(refs.f64(bp["running_var"]).reshape(1, 4, 1, 1) + 1e-4) + refs.f64(beta).reshape(1, 4, 1, 1)
        ck.close("spatial_batchnorm_forward test %s" % n, out_t, rt, tol)

        # conv-bn-relu sandwich (composed)
        x4, w4, b4 = rnd(rs, (2, 2, 5, 5), dt), rnd(rs, (3, 2, 3, 3), dt), rnd(rs, (3,), dt)
        g3, be3 = rnd(rs, (3,), dt), rnd(rs, (3,), dt)
        out, cache = layer_utils.conv_bn_relu_forward(x4, w4, b4, g3, be3, {"stride": 1, "pad": 1}, {"mode": "train"})
        a = refs.conv(x4, w4, b4, 1, 1)
        an = refs.from_rows(refs.bn(refs.to_rows(a), g3, be3, 1e-5)[0], a.shape)
        ck.close("conv_bn_relu_forward %s" % n, out, np.maximum(an, 0), tol)


def t_layer_group_norm():
    for dt, tol in DTYPES:
        n = np.dtype(dt).name
        rs = np.random.RandomState(6)
        x = rnd(rs, (4, 7), dt, 2.0) + dt(1)
        gamma, beta = rnd(rs, (7,), dt), rnd(rs, (7,), dt)
        out, cache = layers.layernorm_forward(x, gamma, beta, {})
        rout, xhat, invstd = refs.layernorm(x, gamma, beta, 1e-5)
        ck.close("layernorm_forward %s" % n, out, rout, tol)
        dout = rnd(rs, x.shape, dt)
        dx, dg, db = layers.layernorm_backward(dout, cache)
        rdx, rdg, rdb = refs.layernorm_back(dout, xhat, invstd, gamma)
        ck.close("layernorm_backward dx %s" % n, dx, rdx, tol)
        ck.close("layernorm_backward dgamma %s" % n, dg, rdg, tol)
        ck.close("layernorm_backward dbeta %s" % n, db, rdb, tol)

        G = 2
        x = rnd(rs, (3, 6, 4, 5), dt, 2.0) + dt(1)
        gamma, beta = rnd(rs, (1, 6, 1, 1), dt), rnd(rs, (1, 6, 1, 1), dt)
        out, cache = layers.spatial_groupnorm_forward(x, gamma, beta, G, {"eps": 1e-4})
        rout, xhat, invstd = refs.groupnorm(x, gamma, beta, G, 1e-4)
        ck.close("spatial_groupnorm_forward %s" % n, out, rout, tol)
        dout = rnd(rs, x.shape, dt)
        dx, dg, db = layers.spatial_groupnorm_backward(dout, cache)
        rdx, rdg, rdb = refs.groupnorm_back(dout, xhat, invstd, gamma, G)
        ck.close("spatial_groupnorm_backward dx %s" % n, dx, rdx, tol)
        ck.close("spatial_groupnorm_backward dgamma %s" % n, dg, rdg, tol)
        ck.close("spatial_groupnorm_backward dbeta %s" % n, db, rdb, tol)
        ck.equal("spatial_groupnorm dgamma shape (1,C,1,1) %s" % n, (dg.shape, db.shape), ((1, 6, 1, 1),) * 2)
        dtype_ok("groupnorm dtypes %s" % n, [out, dx, dg, db], dt)


# ---- numeric gradients through the module ------------------------------------------
def num_check(name, f, inputs, outs_fn, analytic, tol):
    """For each named input array, compare the analytic gradient with the
    numeric gradient of sum(f() * dout)."""
    for key, arr in inputs.items():
        num = eval_numerical_gradient_array(lambda _: f(), arr, outs_fn)
        ck.close("%s numeric d%s" % (name, key), analytic[key], num, tol, kind="rel")


def t_numeric():
    rs = np.random.RandomState(7)
    x, w, b = rs.randn(2, 3, 5, 5), rs.randn(3, 3, 3, 3), rs.randn(3)
    cp = {"stride": 2, "pad": 1}
    for fwd, bwd, k in ((layers.conv_forward_naive, layers.conv_backward_naive, "conv_naive"),
                        (fast_layers.conv_forward_fast, fast_layers.conv_backward_fast, "conv_fast")):
        out, cache = fwd(x, w, b, cp)
        dout = rs.randn(*out.shape)
        dx, dw, db = bwd(dout, cache)
        num_check(k, lambda: fwd(x, w, b, cp)[0], {"x": x, "w": w, "b": b}, dout,
                  {"x": dx, "w": dw, "b": db}, 1e-7)

    x = rs.randn(2, 2, 6, 6)
    for fwd, bwd, k, pp in ((layers.max_pool_forward_naive, layers.max_pool_backward_naive, "pool_naive",
                             {"pool_height": 2, "pool_width": 2, "stride": 2}),
                            (fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast, "pool_fast_overlap",
                             {"pool_height": 3, "pool_width": 3, "stride": 1})):
        out, cache = fwd(x, pp)
        dout = rs.randn(*out.shape)
        num_check(k, lambda: fwd(x, pp)[0], {"x": x}, dout, {"x": bwd(dout, cache)}, 1e-7)

    N, D = 4, 5
    x = 5 * rs.randn(N, D) + 12
    gamma, beta = rs.randn(D), rs.randn(D)
    dout = rs.randn(N, D)
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dg, db = layers.batchnorm_backward(dout, cache)
    num_check("batchnorm", lambda: layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0],
              {"x": x, "gamma": gamma, "beta": beta}, dout, {"x": dx, "gamma": dg, "beta": db}, 1e-7)
    dx2, _, _ = layers.batchnorm_backward_alt(dout, cache)
    ck.close("batchnorm_backward_alt == batchnorm_backward", dx2, dx, 1e-10)

    x = 4 * rs.randn(2, 3, 4, 4) + 10
    gamma, beta = rs.randn(3), rs.randn(3)
    dout = rs.randn(*x.shape)
    _, cache = layers.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dg, db = layers.spatial_batchnorm_backward(dout, cache)
    num_check("spatial_batchnorm", lambda: layers.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0],
              {"x": x, "gamma": gamma}, dout, {"x": dx, "gamma": dg}, 1e-6)

    x = 3 * rs.randn(3, 6) + 5
    gamma, beta = rs.randn(6), rs.randn(6)
    dout = rs.randn(*x.shape)
    _, cache = layers.layernorm_forward(x, gamma, beta, {})
    dx, dg, db = layers.layernorm_backward(dout, cache)
    num_check("layernorm", lambda: layers.layernorm_forward(x, gamma, beta, {})[0],
              {"x": x, "gamma": gamma, "beta": beta}, dout, {"x": dx, "gamma": dg, "beta": db}, 1e-7)

    G = 2
    x = 4 * rs.randn(2, 4, 3, 3) + 6
    gamma, beta = rs.randn(1, 4, 1, 1), rs.randn(1, 4, 1, 1)
    dout = rs.randn(*x.shape)
    _, cache = layers.spatial_groupnorm_forward(x, gamma, beta, G, {})
    dx, dg, db = layers.spatial_groupnorm_backward(dout, cache)
    num_check("spatial_groupnorm", lambda: layers.spatial_groupnorm_forward(x, gamma, beta, G, {})[0],
              {"x": x, "gamma": gamma, "beta": beta}, dout, {"x": dx, "gamma": dg, "beta": db}, 1e-7)


# ---- dtypes and memory layout ------------------------------------------------------
def t_layout():
    rs = np.random.RandomState(8)
    base = rs.randn(5, 3, 6, 7)
    x_nc = base.transpose(0, 1, 3, 2)[:, :, ::-1, :]      # non-contiguous, negative strides
    x_c = np.ascontiguousarray(x_nc)
    w = np.asfortranarray(rs.randn(2, 3, 3, 3))
    b = rs.randn(2)
    cp = {"stride": 1, "pad": 1}
    o1, c1 = fast_layers.conv_forward_fast(x_nc, w, b, cp)
    ck.close("conv non-contiguous x, Fortran w", o1, refs.conv(x_c, np.ascontiguousarray(w), b, 1, 1), 1e-10)
    dout = rs.randn(*o1.shape)[..., ::-1]
    dx, dw, db = fast_layers.conv_backward_fast(dout, c1)
    rdx, rdw, rdb = refs.conv_back(np.ascontiguousarray(dout), x_c, w, 1, 1)
    ck.close("conv_backward non-contiguous dout", dx, rdx, 1e-10)
    ck.close("input not modified", x_nc, base.transpose(0, 1, 3, 2)[:, :, ::-1, :], 0)

    xi = rs.randint(-5, 5, size=(4, 6))
    wi = rs.randint(-3, 3, size=(6, 2))
    out, _ = layers.affine_forward(xi, wi, np.zeros(2, np.int64))
    ck.equal("integer inputs -> float64", out.dtype, np.dtype(np.float64))
    ck.close("integer inputs value", out, xi @ wi, 0)
    out, _ = layers.affine_forward(rs.randn(4, 6).astype(np.float32), rs.randn(6, 2), np.zeros(2))
    ck.equal("mixed float32/float64 -> float64", out.dtype, np.dtype(np.float64))
    xf = rs.randn(3, 4).astype(np.float32)
    out, cache = layers.relu_forward(xf)
    ck.equal("relu float32 stays float32", out.dtype, np.dtype(np.float32))
    ck.equal("float64 dout on float32 cache -> float64",
             layers.relu_backward(np.ones((3, 4)), cache).dtype, np.dtype(np.float64))
    out, _ = layers.relu_forward(xf.astype(">f4"))
    ck.equal("big-endian float32 -> float64", out.dtype, np.dtype(np.float64))
    out, _ = layers.relu_forward(np.zeros((0, 3)))
    ck.equal("relu of an empty array", out.shape, (0, 3))
    loss, _ = layers.softmax_loss(rs.randn(3, 4), [0, 3, 1])
    ck.ok("softmax_loss accepts a list of labels", np.isfinite(loss))
    x = rs.randn(2, 3, 8, 8)
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    o1, _ = fast_layers.max_pool_forward_fast(x[:, :, ::-1], pp)
    ck.close("pool non-contiguous x", o1, refs.pool(np.ascontiguousarray(x[:, :, ::-1]), 2, 2, 2), 0)


def t_notebook_values():
    """The ConvolutionalNetworks notebook's own checks (its printed 8-digit values)."""
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    correct_out = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                             [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                             [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                            [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                             [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                             [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
    for fn in (layers.conv_forward_naive, fast_layers.conv_forward_fast):
        out, _ = fn(x, w, b, {"stride": 2, "pad": 1})
        ck.close("notebook conv values (%s)" % fn.__name__, out, correct_out, 1e-8)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    correct_out = np.array([[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                             [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                             [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
                            [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                             [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                             [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])
    for fn in (layers.max_pool_forward_naive, fast_layers.max_pool_forward_fast):
        out, _ = fn(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
        ck.close("notebook pool values (%s)" % fn.__name__, out, correct_out, 2e-8)


for name, fn in [("notebook", t_notebook_values), ("affine", t_affine), ("svm_dropout", t_svm_dropout), ("conv", t_conv), ("pool", t_pool),
                 ("batchnorm", t_batchnorm), ("layer_group_norm", t_layer_group_norm),
                 ("numeric", t_numeric), ("layout", t_layout)]:
    ck.run(name, fn)
ck.finish()
