"""The Solver: exact log lines and counts on a tiny run, histories, best
parameters, one step worked out by hand, every update rule, a plain numpy
model, checkpoints, argument errors."""
import contextlib
import io
import os
import pickle
import re
import tempfile

import numpy as np

import checklib as ck

from convnet import Net, Solver, ThreeLayerConvNet
from convnet import layers, layer_utils


def tiny_data(rs, n_train=50, n_val=20, classes=3, shape=(3, 8, 8)):
    return {
        "X_train": rs.randn(n_train, *shape),
        "y_train": rs.randint(0, classes, size=n_train),
        "X_val": rs.randn(n_val, *shape),
        "y_val": rs.randint(0, classes, size=n_val),
    }


def small_model(dt=np.float64, ws=0.05):
    return ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=10, num_classes=3,
                             weight_scale=ws, dtype=dt)


def t_log():
    rs = np.random.RandomState(0)
    data = tiny_data(rs)
    np.random.seed(0)
    model = small_model()
    solver = Solver(model, data, update_rule="sgd_momentum", optim_config={"learning_rate": 1e-2},
                    lr_decay=0.5, batch_size=10, num_epochs=2, print_every=2, num_train_samples=30)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        solver.train()
    lines = buf.getvalue().splitlines()
    it = [l for l in lines if l.startswith("(Iteration")]
    ep = [l for l in lines if l.startswith("(Epoch")]
    ck.equal("iteration lines: t % print_every == 0 of 10 iterations", len(it), 5)
    ck.equal("epoch lines: first, each epoch end (last included)", len(ep), 3)
    ck.equal("no other output", len(lines), 8)
    ck.ok("iteration line format", all(re.match(r"^\(Iteration \d+ / 10\) loss: \d+\.\d{6}$", l) for l in it), it[0])
    ck.ok("epoch line format",
          all(re.match(r"^\(Epoch \d / 2\) train acc: \d\.\d{6}; val_acc: \d\.\d{6}$", l) for l in ep), ep[0])
    want = []
    acc_i = 0
    for t in range(10):
        if t % 2 == 0:
            want.append("(Iteration %d / %d) loss: %f" % (t + 1, 10, solver.loss_history[t]))
        if t in (0, 4, 9):
            epoch = {0: 0, 4: 1, 9: 2}[t]
            want.append("(Epoch %d / %d) train acc: %f; val_acc: %f"
                        % (epoch, 2, solver.train_acc_history[acc_i], solver.val_acc_history[acc_i]))
            acc_i += 1
    ck.equal("log text exactly as the original would print it", lines, want)
    ck.equal("loss_history length", len(solver.loss_history), 10)
    ck.equal("acc history lengths", (len(solver.train_acc_history), len(solver.val_acc_history)), (3, 3))
    ck.equal("epoch counter", solver.epoch, 2)
    ck.close("lr decayed twice", solver.optim_configs["W1"]["learning_rate"], 1e-2 * 0.25, 1e-15)
    ck.ok("velocity kept per parameter", solver.optim_configs["W2"]["velocity"].shape == (4 * 4 * 4, 10))
    ck.close("best_val_acc = max of the history", solver.best_val_acc, max(solver.val_acc_history), 0)
    ck.ok("model ends with best_params",
          all(np.array_equal(model.params[k], solver.best_params[k]) for k in model.params))
    ck.ok("best_params are copies", all(solver.best_params[k] is not model.params[k] for k in model.params))
    # accuracies on 20 val samples are multiples of 1/20
    ck.close("val acc is a fraction of 20", np.array(solver.val_acc_history) * 20,
             np.round(np.array(solver.val_acc_history) * 20), 1e-12)
    # silent when verbose=False
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        Solver(small_model(), data, batch_size=25, num_epochs=1, verbose=False).train()
    ck.equal("verbose=False prints nothing", buf.getvalue(), "")


def t_step_by_hand():
    rs = np.random.RandomState(1)
    data = tiny_data(rs)
    np.random.seed(1)
    model = small_model()
    p0 = model.params.copy()
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 0.1}, batch_size=7)
    np.random.seed(11)
    solver._step()
    p1 = model.params.copy()
    model.params = p0
    np.random.seed(11)
    mask = np.random.choice(50, 7)
    loss, grads = model.loss(data["X_train"][mask], data["y_train"][mask])
    ck.close("step loss = model.loss on the minibatch", solver.loss_history[0], loss, 0)
    for k in p0:
        ck.close("sgd step %s = w - lr*dw" % k, p1[k], p0[k] - 0.1 * grads[k], 1e-12)
    # check_accuracy against argmax of the scores
    acc = solver.check_accuracy(data["X_val"], data["y_val"], batch_size=6)
    pred = np.argmax(model.loss(data["X_val"]), axis=1)
    ck.close("check_accuracy = mean(argmax == y)", acc, np.mean(pred == data["y_val"]), 0)


def t_rules_overfit():
    rs = np.random.RandomState(2)
    data = tiny_data(rs, n_train=20, n_val=10)
    for rule, lr in (("sgd", 0.5), ("sgd_momentum", 0.1), ("rmsprop", 3e-3), ("adam", 2e-2)):
        for dt in (np.float32, np.float64):
            np.random.seed(2)
            model = small_model(dt, ws=0.1)
            s = Solver(model, data, update_rule=rule, optim_config={"learning_rate": lr}, batch_size=10,
                       num_epochs=15, verbose=False)
            s.train()
            ck.ok("%s %s overfits 20 samples (train acc >= 0.9)" % (rule, np.dtype(dt).name),
                  s.train_acc_history[-1] >= 0.9,
                  "train acc %s, loss %.3f -> %.3f" % (s.train_acc_history[-1], s.loss_history[0], s.loss_history[-1]))


class NumpyTwoLayerNet(object):
    """A user's own model in plain numpy (built on convnet.layers)."""

    def __init__(self, D, H, C, reg=0.0):
        rs = np.random.RandomState(3)
        self.params = {"W1": 0.1 * rs.randn(D, H), "b1": np.zeros(H), "W2": 0.1 * rs.randn(H, C), "b2": np.zeros(C)}
        self.reg = reg

    def loss(self, X, y=None):
        h, c1 = layer_utils.affine_relu_forward(X, self.params["W1"], self.params["b1"])
        scores, c2 = layers.affine_forward(h, self.params["W2"], self.params["b2"])
        if y is None:
            return scores
        loss, d = layers.softmax_loss(scores, y)
        dh, dW2, db2 = layers.affine_backward(d, c2)
        dx, dW1, db1 = layer_utils.affine_relu_backward(dh, c1)
        return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def t_numpy_model():
    rs = np.random.RandomState(4)
    data = tiny_data(rs, n_train=20, n_val=10, shape=(2, 3, 3))
    model = NumpyTwoLayerNet(18, 30, 3)
    np.random.seed(4)
    s = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2}, batch_size=10,
               num_epochs=20, verbose=False)
    s.train()
    ck.ok("a plain numpy model trains (train acc >= 0.9)", s.train_acc_history[-1] >= 0.9,
          "train acc %s" % s.train_acc_history[-1])
    ck.ok("its params dict is replaced by best_params", model.params is s.best_params)


def t_checkpoint_and_errors():
    rs = np.random.RandomState(5)
    data = tiny_data(rs)
    np.random.seed(5)
    model = small_model()
    with tempfile.TemporaryDirectory() as d:
        name = os.path.join(d, "ck")
        s = Solver(model, data, batch_size=25, num_epochs=1, checkpoint_name=name, print_every=100)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            s.train()
        files = sorted(os.listdir(d))
        ck.equal("checkpoint files per accuracy check", files, ["ck_epoch_0.pkl", "ck_epoch_1.pkl"])
        ck.ok("checkpoint message printed", 'Saving checkpoint to "%s_epoch_1.pkl"' % name in buf.getvalue())
        with open(os.path.join(d, "ck_epoch_1.pkl"), "rb") as f:
            cp = pickle.load(f)
        X = data["X_val"][:4]
        ck.equal("checkpoint keys", sorted(cp), sorted(["model", "update_rule", "lr_decay", "optim_config",
                                                         "batch_size", "num_train_samples", "num_val_samples",
                                                         "epoch", "loss_history", "train_acc_history",
                                                         "val_acc_history"]))
        ck.ok("checkpointed model is a working net", cp["model"].loss(X).shape == (4, 3))
    ck.raises("unknown argument -> ValueError", ValueError,
              lambda: Solver(model, data, learning_rate=1e-3), "Unrecognized arguments")
    ck.raises("unknown update rule -> ValueError", ValueError,
              lambda: Solver(model, data, update_rule="sgdd"), 'Invalid update_rule "sgdd"')
    ck.raises("a non-rule name in optim -> ValueError", ValueError,
              lambda: Solver(model, data, update_rule="np"), 'Invalid update_rule "np"')
    calls = []

    def my_rule(w, dw, config=None):
        calls.append(1)
        return w - 0.01 * dw, config

    Solver(model, data, update_rule=my_rule, batch_size=50, num_epochs=1, verbose=False).train()
    ck.equal("a callable update rule is used for every parameter", len(calls), 6)


for name, fn in [("log", t_log), ("step_by_hand", t_step_by_hand), ("rules_overfit", t_rules_overfit),
                 ("numpy_model", t_numpy_model), ("checkpoint_and_errors", t_checkpoint_and_errors)]:
    ck.run(name, fn)
ck.finish()
