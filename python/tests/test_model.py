"""ThreeLayerConvNet / Net through the module: shapes, init, loss and scores
against an independent numpy forward pass, gradients against numeric ones
(perturbing model.params in place, as the notebook does), the aliasing
.params, reg, dtypes, pickling, model files, errors."""
import gc
import os
import pickle
import tempfile

import numpy as np

import checklib as ck
import refs

import convnet
from convnet import Net, ThreeLayerConvNet
from convnet.classifiers.cnn import ThreeLayerConvNet as TLCN2
from convnet.gradient_check import eval_numerical_gradient


def ref_three_layer(model, X, y, K):
    """The original ThreeLayerConvNet.loss, in numpy."""
    p = {k: refs.f64(v) for k, v in model.params.items()}
    a1 = np.maximum(refs.conv(X, p["W1"], p["b1"], 1, (K - 1) // 2), 0)
    h1 = refs.pool(a1, 2, 2, 2)
    h2 = np.maximum(refs.affine(h1, p["W2"], p["b2"]), 0)
    scores = refs.affine(h2, p["W3"], p["b3"])
    if y is None:
        return scores
    loss, _ = refs.softmax_loss(scores, y)
    reg = model.reg
    loss += 0.5 * reg * sum(np.sum(p[k] ** 2) for k in ("W1", "W2", "W3"))
    return loss, scores


def t_shapes_init():
    m = ThreeLayerConvNet()
    want = {"W1": (32, 3, 7, 7), "b1": (32,), "W2": (32 * 16 * 16, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)}
    ck.equal("ThreeLayerConvNet default param shapes", {k: v.shape for k, v in m.params.items()}, want)
    ck.equal("ThreeLayerConvNet param order", list(m.params), ["W1", "b1", "W2", "b2", "W3", "b3"])
    ck.ok("default dtype float32", m.dtype == np.float32 and all(v.dtype == np.float32 for v in m.params.values()))
    ck.ok("classifiers.cnn exports the same class", TLCN2 is ThreeLayerConvNet)
    ck.close("biases start at zero", np.concatenate([m.params[k] for k in ("b1", "b2", "b3")]), np.zeros(142), 0)
    ck.close("W2 std = weight_scale", np.std(m.params["W2"]), 1e-3, 0.02)
    ck.ok("W2 mean ~ 0", abs(np.mean(m.params["W2"])) < 1e-5, "mean %g" % np.mean(m.params["W2"]))
    m = ThreeLayerConvNet(input_dim=(1, 12, 10), num_filters=5, filter_size=4, hidden_dim=7, num_classes=3,
                          weight_scale=0.5, reg=0.25, dtype=np.float64)
    ck.equal("custom shapes (even filter, non-square input)",
             {k: v.shape for k, v in m.params.items()},
             {"W1": (5, 1, 4, 4), "b1": (5,), "W2": (5 * 5 * 4, 7), "b2": (7,), "W3": (7, 3), "b3": (3,)})
    ck.equal("reg and dtype kept", (m.reg, m.dtype), (0.25, np.float64))
    np.random.seed(42)
    a = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, hidden_dim=6)
    np.random.seed(42)
    b = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, hidden_dim=6)
    c = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, hidden_dim=6)
    ck.ok("np.random.seed makes init reproducible", all(np.array_equal(a.params[k], b.params[k]) for k in a.params))
    ck.ok("another draw differs", not np.array_equal(a.params["W1"], c.params["W1"]))


def t_loss():
    K = 3
    rs = np.random.RandomState(0)
    for dt, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        n = np.dtype(dt).name
        np.random.seed(1)
        m = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=K, hidden_dim=10, num_classes=5,
                              weight_scale=0.3, reg=0.1, dtype=dt)
        X = rs.randn(6, 3, 8, 8)
        y = rs.randint(0, 5, size=6)
        scores = m.loss(X)
        ck.equal("scores shape %s" % n, scores.shape, (6, 5))
        ck.equal("scores dtype %s" % n, scores.dtype, np.dtype(dt))
        Xd = X.astype(dt)
        ck.close("scores vs numpy %s" % n, scores, ref_three_layer(m, Xd, None, K), tol)
        loss, grads = m.loss(X, y)
        rl, _ = ref_three_layer(m, Xd, y, K)
        ck.close("loss vs numpy (with reg) %s" % n, loss, rl, tol)
        ck.ok("loss is a float %s" % n, isinstance(loss, float))
        ck.equal("grads keys %s" % n, sorted(grads), sorted(m.params))
        ck.ok("grad shapes/dtypes %s" % n,
              all(grads[k].shape == m.params[k].shape and grads[k].dtype == np.dtype(dt) for k in grads))
        # grads are new arrays: another loss call does not change them
        g1 = grads["W1"].copy()
        m.loss(X[:2], y[:2])
        ck.close("grads are copies %s" % n, grads["W1"], g1, 0)
        # reg property
        m.reg = 0.7
        l2, _ = m.loss(X, y)
        ck.close("reg setter (loss vs numpy) %s" % n, l2, ref_three_layer(m, Xd, y, K)[0], tol)
        ck.raises("negative reg -> ValueError %s" % n, ValueError, lambda: setattr(m, "reg", -1.0))


def t_numeric_grads():
    np.random.seed(3)
    rs = np.random.RandomState(3)
    m = ThreeLayerConvNet(input_dim=(3, 6, 6), num_filters=2, filter_size=3, hidden_dim=5, num_classes=3,
                          weight_scale=0.5, reg=0.05, dtype=np.float64)
    X = rs.randn(2, 3, 6, 6)
    y = np.array([0, 2])
    loss, grads = m.loss(X, y)
    for k in sorted(grads):
        f = lambda _: m.loss(X, y)[0]
        num = eval_numerical_gradient(f, m.params[k], verbose=False, h=1e-6)
        ck.close("three-layer numeric d%s (in-place params)" % k, grads[k], num, 1e-6)
    ck.close("params restored after the numeric gradient", m.loss(X, y)[0], loss, 0)

    # a spec net with batch norm and group norm
    np.random.seed(4)
    net = Net("conv4x3-bn-relu-pool2-conv4x3-gn2-relu-affine6-ln-relu-affine3", input_dim=(2, 6, 6),
              weight_scale=0.5, reg=0.01, dtype=np.float64)
    X = rs.randn(4, 2, 6, 6)
    y = np.array([0, 1, 2, 1])
    st = {k: v.copy() for k, v in net.state.items()}
    loss, grads = net.loss(X, y)
    for k in sorted(grads):
        for kk, v in st.items():
            net.state[kk] = v
        f = lambda _: net.loss(X, y)[0]
        num = eval_numerical_gradient(f, net.params[k], verbose=False, h=1e-6)
        if k == "b1":  # a bias right before batch norm has no effect on the loss
            ck.ok("bn/gn/ln net d%s ~ 0 (bias before batch norm)" % k,
                  np.max(np.abs(grads[k])) < 1e-12 and np.max(np.abs(num)) < 1e-8,
                  "max |analytic| %g, max |numeric| %g" % (np.max(np.abs(grads[k])), np.max(np.abs(num))))
        else:
            ck.close("bn/gn/ln net numeric d%s" % k, grads[k], num, 1e-6)


def t_bn_net():
    rs = np.random.RandomState(5)
    np.random.seed(5)
    net = Net("conv4x3-bn-relu-pool2-affine5", input_dim=(2, 6, 6), weight_scale=0.5, dtype=np.float64)
    ck.equal("bn net params", list(net.params), ["W1", "b1", "gamma1", "beta1", "W2", "b2"])
    ck.equal("bn net state", list(net.state), ["running_mean1", "running_var1"])
    X = rs.randn(5, 2, 6, 6)
    y = rs.randint(0, 5, size=5)
    p = {k: v.copy() for k, v in net.params.items()}
    a = refs.conv(X, p["W1"], p["b1"], 1, 1)
    rows = refs.to_rows(a)
    out, _, _, mu, var = refs.bn(rows, p["gamma1"], p["beta1"], 1e-5)
    h = refs.pool(np.maximum(refs.from_rows(out, a.shape), 0), 2, 2, 2)
    scores = refs.affine(h, p["W2"], p["b2"])
    loss, _ = net.loss(X, y)
    ck.close("bn net train loss vs numpy", loss, refs.softmax_loss(scores, y)[0], 1e-10)
    ck.close("bn net running_mean after one step", net.state["running_mean1"], 0.1 * mu, 1e-10)
    ck.close("bn net running_var after one step", net.state["running_var1"], 0.1 * var, 1e-10)
    rm, rv = net.state["running_mean1"].copy(), net.state["running_var1"].copy()
    s = net.loss(X)
    tout = (p["gamma1"] * (rows - rm) / np.sqrt(rv + 1e-5) + p["beta1"])
    h = refs.pool(np.maximum(refs.from_rows(tout, a.shape), 0), 2, 2, 2)
    ck.close("bn net test scores use running stats", s, refs.affine(h, p["W2"], p["b2"]), 1e-10)
    ck.close("test mode leaves running stats", net.state["running_mean1"], rm, 0)


def t_params_alias():
    rs = np.random.RandomState(6)
    np.random.seed(6)
    m = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=6, num_classes=4,
                          weight_scale=0.1, dtype=np.float64)
    X = rs.randn(3, 3, 8, 8)
    y = np.array([0, 1, 3])
    l0, _ = m.loss(X, y)
    W1 = m.params["W1"]
    W1[0, 0, 0, 0] += 0.5
    l1, _ = m.loss(X, y)
    ck.ok("in-place change of params['W1'][0,0,0,0] changes the loss", l1 != l0, "%r vs %r" % (l0, l1))
    W1[0, 0, 0, 0] -= 0.5
    ck.close("undoing it restores the loss", m.loss(X, y)[0], l0, 1e-15)
    ck.ok("params['W1'] is the same array each time", m.params["W1"] is W1)
    new = rs.randn(*W1.shape)
    m.params["W1"] = new
    ck.close("assignment copies into the model", m.params["W1"], new, 0)
    ck.ok("assignment keeps the alias (same object)", m.params["W1"] is W1)
    new[...] = 0
    ck.ok("assigned array is copied, not kept", np.any(m.params["W1"] != 0))
    ck.close("loss follows the assigned weights", m.loss(X, y)[0],
             ref_three_layer(m, X, y, 3)[0], 1e-10)
    ck.raises("assigning a wrong shape -> ValueError", ValueError,
              lambda: m.params.__setitem__("W1", np.zeros((3, 3, 3))))
    ck.raises("assigning an unknown name -> KeyError", KeyError,
              lambda: m.params.__setitem__("W9", np.zeros(3)))
    ck.raises("deleting a parameter -> TypeError", TypeError, lambda: m.params.__delitem__("W1"))
    snap = m.params.copy()
    ck.ok("params.copy() gives independent arrays", snap["W2"] is not m.params["W2"]
          and np.array_equal(snap["W2"], m.params["W2"]))
    m.params["W2"] *= 2
    m.params = snap
    ck.close("model.params = dict copies every entry", m.params["W2"], snap["W2"], 0)
    f32 = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=6, num_classes=4)
    f32.params["W3"] = np.ones((6, 4))
    ck.ok("float64 value into a float32 model", f32.params["W3"].dtype == np.float32 and np.all(f32.params["W3"] == 1))
    # the arrays outlive the model object
    w = m.params["W3"]
    copy = w.copy()
    del m, W1
    gc.collect()
    ck.close("param array outlives its model", w, copy, 0)


def t_misc():
    rs = np.random.RandomState(7)
    np.random.seed(7)
    m = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=6, num_classes=4,
                          weight_scale=0.1, reg=0.3, dtype=np.float64)
    X = rs.randn(3, 3, 8, 8)
    y = np.array([0, 1, 3])
    m2 = pickle.loads(pickle.dumps(m))
    ck.ok("pickle round trip: same class", type(m2) is ThreeLayerConvNet)
    ck.close("pickle round trip: same loss", m2.loss(X, y)[0], m.loss(X, y)[0], 0)
    ck.ok("pickle round trip: independent memory", m2.params["W1"].ctypes.data != m.params["W1"].ctypes.data)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        m.save(path)
        m3 = Net.load(path)
        ck.close("save/load: same scores", m3.loss(X), m.loss(X), 0)
        ck.equal("save/load: spec, input, reg", (m3.spec, m3.input_dim, m3.reg), (m.spec, m.input_dim, m.reg))
        ck.raises("load of a missing file -> IOError", IOError, lambda: Net.load(os.path.join(d, "nope")))
    ck.ok("describe names the layers", "conv-relu-pool" in m.describe())
    ck.equal("spec_expand preset", convnet.spec_expand("three-layer"), "conv32x7-relu-pool2-affine100-relu-affine10")
    Xs = rs.randn(3, 3, 8, 8)[:, :, ::-1]
    ck.close("non-contiguous X", m.loss(Xs), m.loss(np.ascontiguousarray(Xs)), 0)
    ck.raises("X of the wrong shape -> ValueError", ValueError, lambda: m.loss(rs.randn(2, 3, 8, 9)))
    ck.raises("2-D X -> ValueError", ValueError, lambda: m.loss(rs.randn(2, 192)))
    ck.raises("label out of range -> ValueError", ValueError, lambda: m.loss(X, np.array([0, 1, 4])), "out of range")
    ck.raises("labels of the wrong length -> ValueError", ValueError, lambda: m.loss(X, np.array([0, 1])))
    ck.raises("bad spec -> ValueError with the C message", ValueError,
              lambda: Net("conv4x3-relu-bogus7-affine3", input_dim=(1, 4, 4)), "cannot read layer 3")
    ck.raises("spec not ending in affine -> ValueError", ValueError,
              lambda: Net("conv4x3-relu", input_dim=(1, 4, 4)), "last layer")
    ck.raises("filter larger than the input -> ValueError", ValueError,
              lambda: Net("conv4x5p0-relu-affine3", input_dim=(1, 3, 3)), "does not fit")
    ck.raises("dtype float16 -> ValueError", ValueError, lambda: Net("affine3", (1, 2, 2), dtype=np.float16))
    # many nets created and dropped: memory is given back (no crash, stable)
    for _ in range(20):
        Net("conv8x3-relu-pool2-affine10", input_dim=(3, 16, 16)).loss(rs.randn(4, 3, 16, 16), np.arange(4))
    gc.collect()
    ck.ok("20 nets created and freed", True)


for name, fn in [("shapes_init", t_shapes_init), ("loss", t_loss), ("numeric_grads", t_numeric_grads),
                 ("bn_net", t_bn_net), ("params_alias", t_params_alias), ("misc", t_misc)]:
    ck.run(name, fn)
ck.finish()
