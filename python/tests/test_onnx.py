"""convnet export --onnx against two independent readers: python3-onnx's
checker (full_check: types and shapes inferred) and OpenCV's dnn module
(cv2.dnn.readNetFromONNX), whose scores and probabilities on 1,000 images
must agree with libconvnet's forward (cn_net_loss in test mode on the
training's preprocessing, pixel - stored mean) within 1e-4, for the
three-layer net and nets with batch norm (spatial and flat), group norm,
layer norm (after a conv and after an affine) and a strided pool; and with
`convnet predict --json` on PNGs written by OpenCV. Models: random weights
(He scale, the first layer scaled for raw pixels), random mean image, batch
norm running statistics from 20 training-mode passes. Skipped (one PASS line
saying so) when python3-onnx or python3-opencv is missing or convnet was
built without export."""
import ctypes
import json
import os
import subprocess
import tempfile

import numpy as np

import checklib as ck

BUILD = os.environ.get("BUILD", "build")
CONVNET = os.path.join(BUILD, "convnet")
TOL = 1e-4

try:
    import cv2
    import onnx
    HAVE = True
except ImportError as e:
    HAVE = False
    WHY = str(e)

lib = ctypes.CDLL(os.environ.get("CONVNET_LIB", os.path.join(BUILD, "libconvnet.so")))
P, I, D = ctypes.c_void_p, ctypes.c_int, ctypes.c_double


class Rng(ctypes.Structure):
    _fields_ = [("s", ctypes.c_uint64 * 4)]


class Param(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("ndim", I), ("shape", ctypes.c_int64 * 4), ("size", ctypes.c_size_t),
                ("data", P), ("grad", P), ("trainable", I), ("regularized", I)]


lib.cn_ctx_new.restype = P
lib.cn_ctx_new.argtypes = [I]
lib.cn_ctx_error.restype = ctypes.c_char_p
lib.cn_ctx_error.argtypes = [P]
lib.cn_net_new.argtypes = [P, ctypes.POINTER(P), ctypes.c_char_p, I, I, I, I, D, D, ctypes.POINTER(Rng)]
lib.cn_net_num_params.argtypes = [P]
lib.cn_net_param_at.restype = ctypes.POINTER(Param)
lib.cn_net_param_at.argtypes = [P, I]
lib.cn_net_set_preprocess.argtypes = [P, P, P]
lib.cn_net_save.argtypes = [P, P, ctypes.c_char_p, P, I]
lib.cn_net_loss.argtypes = [P, P, P, P, P, P, I]
lib.cn_net_free.argtypes = [P]
lib.cn_rng_seed.argtypes = [ctypes.POINTER(Rng), ctypes.c_uint64]

CTX = lib.cn_ctx_new(0)


def arr(p):
    return np.ctypeslib.as_array(ctypes.cast(p.data, ctypes.POINTER(ctypes.c_float)), shape=(p.size,))


def make_model(spec, C, H, W, path, seed):
    rs = np.random.RandomState(seed)
    net = P()
    rng = Rng()
    lib.cn_rng_seed(ctypes.byref(rng), seed)
    if lib.cn_net_new(CTX, ctypes.byref(net), spec.encode(), C, H, W, 0, D(1.0), D(0.0), ctypes.byref(rng)):
        raise RuntimeError(lib.cn_ctx_error(CTX).decode())
    first = True
    for i in range(lib.cn_net_num_params(net)):
        p = lib.cn_net_param_at(net, i).contents
        name, a = p.name.decode(), arr(p)
        shape = tuple(p.shape[:p.ndim])
        if name.startswith("W"):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            a[:] = rs.randn(a.size) * np.sqrt(2.0 / fan_in) / (70.0 if first else 1.0)
            first = False
        elif name.startswith("b") or name.startswith("beta"):
            a[:] = 0.1 * rs.randn(a.size)
        elif name.startswith("gamma"):
            a[:] = 1 + 0.2 * rs.randn(a.size)
    mean = (60 + 120 * rs.rand(C * H * W)).astype(np.float32)
    lib.cn_net_set_preprocess(CTX, net, mean.ctypes.data)
    # batch norm running statistics from training-mode passes (momentum 0.9)
    for _ in range(20):
        x = (rs.randint(0, 256, (50, C, H, W)).astype(np.float32) - mean.reshape(C, H, W))
        y = rs.randint(0, 10, 50).astype(np.int32)
        loss = ctypes.c_double()
        lib.cn_net_loss(CTX, net, ctypes.byref(loss), None, x.ctypes.data, y.ctypes.data, 50)
    if lib.cn_net_save(CTX, net, path.encode(), None, 0):
        raise RuntimeError(lib.cn_ctx_error(CTX).decode())
    return net, mean


def forward(net, pix, mean):
    """libconvnet's scores (test mode) on pixel - mean."""
    out = np.zeros((pix.shape[0], 10), np.float32)
    for s in range(0, pix.shape[0], 250):
        x = np.ascontiguousarray(pix[s:s + 250] - mean.reshape(pix.shape[1:]), np.float32)
        o = np.zeros((x.shape[0], 10), np.float32)
        rc = lib.cn_net_loss(CTX, net, None, o.ctypes.data, x.ctypes.data, None, x.shape[0])
        if rc:
            raise RuntimeError(lib.cn_ctx_error(CTX).decode())
        out[s:s + 250] = o
    return out


def softmax(s):
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


MODELS = [
    ("three-layer", 3, 32, 32),
    ("conv8x3-bn-relu-pool2-affine32-bn-relu-affine10", 3, 32, 32),
    ("conv8x5-gn2-relu-pool2-conv8x3-gn4-relu-affine10", 3, 32, 32),
    ("conv8x3-ln-relu-pool2-affine32-ln-relu-affine10", 1, 28, 28),
    ("conv6x3s2p0-relu-pool3s2-affine16-relu-affine10", 1, 28, 28),
    # the recipe's kinds: whiten (a 2x2 conv), dirac init, bn without scale, gelu, global pools, scale
    ("whiten-gelu-conv16x3d-bnb-gelu-pool2-conv16x3-bnb-gelu-gmp-affine10-scale1/9", 3, 32, 32),
    ("conv8x3-gelu-gap-affine10", 1, 28, 28),
]
worst = {}


def t_models():
    with tempfile.TemporaryDirectory() as d:
        for k, (spec, C, H, W) in enumerate(MODELS):
            m, o = "%s/m%d.safetensors" % (d, k), "%s/m%d.onnx" % (d, k)
            net, mean = make_model(spec, C, H, W, m, 10 + k)
            try:
                r = subprocess.run([CONVNET, "export", "--model", m, "--onnx", o], capture_output=True, text=True)
                if not (r.returncode == 0 and os.path.exists(o)):
                    ck.ok("%s: export exits 0" % spec, False, r.stderr[-300:])
                    continue
                try:
                    onnx.checker.check_model(onnx.load(o), full_check=True)
                    ok, why = True, ""
                except Exception as e:
                    ok, why = False, str(e)[:300]
                ck.ok("%s: onnx checker (full) accepts the file" % spec, ok, why)
                pix = np.random.RandomState(k).randint(0, 256, (1000, C, H, W)).astype(np.float32)
                ref = forward(net, pix, mean)
                dnn = cv2.dnn.readNetFromONNX(o)
                got_s, got_p = [], []
                for s in range(0, 1000, 250):
                    dnn.setInput(pix[s:s + 250])
                    a, b = dnn.forward(["scores", "probabilities"])
                    got_s.append(a)
                    got_p.append(b)
                got_s, got_p = np.concatenate(got_s), np.concatenate(got_p)
                es, ep = float(np.max(np.abs(got_s - ref))), float(np.max(np.abs(got_p - softmax(ref.astype(np.float64)))))
                worst[spec] = (es, ep, float(np.max(np.abs(ref))))
                ck.ok("%s: OpenCV dnn scores = convnet forward on 1000 images (max |diff| %.2e, max |score| %.1f)"
                      % (spec, es, np.max(np.abs(ref))), es <= TOL, "")
                ck.ok("%s: OpenCV dnn probabilities = softmax of convnet's (max |diff| %.2e)" % (spec, ep), ep <= TOL, "")
                # convnet predict on PNGs written by OpenCV (RGB -> BGR for imwrite)
                files = []
                for i in range(8):
                    img = pix[i].astype(np.uint8).transpose(1, 2, 0)
                    if C == 3:
                        img = img[:, :, ::-1]
                    f = "%s/img%d_%d.png" % (d, k, i)
                    cv2.imwrite(f, np.ascontiguousarray(img))
                    files.append(f)
                r = subprocess.run([CONVNET, "predict", "--json", "--model", m] + files, capture_output=True, text=True)
                try:
                    ps = np.array([json.loads(l)["scores"] for l in r.stdout.splitlines()])
                    ep2 = float(np.max(np.abs(ps - got_s[:8])))
                except Exception:
                    ep2 = float("inf")
                ck.ok("%s: convnet predict --json on 8 PNGs = OpenCV dnn scores (max |diff| %.2e)" % (spec, ep2),
                      r.returncode == 0 and ep2 <= TOL, r.stderr[-200:])
            finally:
                lib.cn_net_free(net)
        # refusals: no recorded preprocessing; not a model
        m = d + "/old.safetensors"
        net, _ = make_model("conv4x3-relu-affine10", 1, 8, 8, m, 3)
        lib.cn_net_set_preprocess(CTX, net, None)  # CN_PREP_NONE: allowed, no Sub node
        lib.cn_net_save(CTX, net, m.encode(), None, 0)
        r = subprocess.run([CONVNET, "export", "--model", m, "--onnx", d + "/none.onnx"], capture_output=True, text=True)
        ok = r.returncode == 0
        if ok:
            g = onnx.load(d + "/none.onnx").graph
            ok = not any(n.op_type == "Sub" for n in g.node) and g.node[-1].op_type == "Softmax"
        ck.ok("a model trained on raw pixels (preprocess none): no Sub node, Softmax last", ok, r.stderr[-200:])
        lib.cn_net_free(net)
        with open(d + "/junk.safetensors", "wb") as f:
            f.write(b"not a model")
        r = subprocess.run([CONVNET, "export", "--model", d + "/junk.safetensors", "--onnx", d + "/j.onnx"],
                           capture_output=True, text=True)
        ck.ok("export of a broken file: exit 1, message names it, no output file",
              r.returncode == 1 and "junk.safetensors" in r.stderr and not os.path.exists(d + "/j.onnx"), r.stderr)


if not HAVE:
    ck.ok("ONNX export (skipped: %s; apt-get install python3-onnx python3-opencv)" % WHY, True)
else:
    probe = subprocess.run([CONVNET, "export"], capture_output=True, text=True)
    if "built without ONNX support" in probe.stderr:
        ck.ok("ONNX export (skipped: convnet built without protobuf-c / libonnx-dev)", True)
    else:
        ck.run("models", t_models)
        if worst:
            print("ONNX vs convnet, max |score diff| over all models: %.3e; max |prob diff|: %.3e" % (
                max(v[0] for v in worst.values()), max(v[1] for v in worst.values())))
ck.finish()
