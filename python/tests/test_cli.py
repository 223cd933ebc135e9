"""The convnet CLI from the outside: flag checks before data, messages that
say what to do, gradcheck's verdict, scripts/deps.sh without root or sudo.
Runs $BUILD/convnet (build/ by default) as a child process."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import checklib as ck

BUILD = os.environ.get("BUILD", "build")
CONVNET = os.path.join(BUILD, "convnet")
FASHION = "/usr/share/datasets/fashion-mnist"


def okr(name, cond, note=""):
    ck.ok(name, cond, note)
    return bool(cond)


def run(*args, env=None, timeout=120):
    t0 = time.time()
    p = subprocess.run([CONVNET] + list(args), capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def t_flags_before_data():
    # a data directory that does not exist: if the flag were checked after
    # loading, the data error would come first
    nodata = "fashion-mnist:/nonexistent-convnet-test"
    for args, want in [
        (["--batch-size", "0"], "--batch-size must be > 0"),
        (["--num-epochs", "0"], "--num-epochs must be > 0"),
        (["--print-every", "-1"], "--print-every must be > 0"),
        (["--update-rule", "sgdd"], "--update-rule must be"),
        (["--lr-decay", "0"], "--lr-decay must be > 0"),
        (["--net", "conv3x3-foo-affine10"], "cannot read layer 2 'foo'"),
        (["--net", "conv3x3-relu-affine7"], "--net"),
        (["--net", "three-layer", "--hidden-dim", "500"], "--net gives the whole net"),
        (["--net", "three-layer", "--num-filters", "8"], "--net gives the whole net"),
        (["--net", "three-layer", "--filter-size", "3"], "--net gives the whole net"),
        (["--hidden-dim", "0"], "must be > 0"),
        (["--checkpoint-every", "5"], "--checkpoint-every needs --save"),
    ]:
        rc, out, err, _ = run("train", "--data", nodata, *args)
        ck.ok("train %s: exit 2, message before any data is read" % " ".join(args),
              rc == 2 and want in err and "data:" not in out and "nonexistent" not in err,
              "rc=%d err=%r" % (rc, err.strip()[:200]))


def t_fashion_hint():
    rc, out, err, _ = run("train", "--data", "fashion-mnist:/nonexistent-convnet-test")
    ck.ok("missing Fashion-MNIST names the package dataset-fashion-mnist",
          rc == 1 and "dataset-fashion-mnist" in err and "/nonexistent-convnet-test" in err, err.strip())


def t_default_three_layer():
    rc, out, err, _ = run("train", "--help")
    ck.ok("train --help: hidden-dim default 100 (ThreeLayerConvNet), the notebook's 500 named",
          rc == 0 and re.search(r"hidden-dim .*\(100, ThreeLayerConvNet's default; the notebook's CIFAR-10 run passes 500\)",
                                out) is not None, "")
    if not os.path.isdir(FASHION):
        ck.ok("default net is the three-layer preset (skipped: no Fashion-MNIST)", True)
        return
    rc, out, err, _ = run("train", "--num-train", "50", "--num-val", "10", "--num-test", "0", "--batch-size", "50",
                          "--quiet")
    rc2, out2, err2, _ = run("describe", "--net", "three-layer", "--input", "1,28,28")
    first = [l for l in out.splitlines() if l.startswith("net ")]
    ck.ok("train without --net builds the 'three-layer' preset (hidden 100)",
          rc == 0 and rc2 == 0 and first and first[0] == out2.splitlines()[0], "%r vs %r" % (first, out2[:80]))


def t_gradcheck_verdict():
    rc, out, err, _ = run("gradcheck")
    errs = [float(m) for m in re.findall(r"max relative error: ([0-9.eE+-]+)", out)]
    m = re.search(r"^gradcheck: (PASS|FAIL) \(max relative error ([0-9.eE+-]+), bound ([0-9.eE+-]+)\)$", out, re.M)
    ok = m is not None and errs and abs(float(m.group(2)) - max(errs)) <= 1e-3 * max(errs) + 1e-300
    ok = ok and (m.group(1) == "PASS") == (max(errs) < float(m.group(3))) and (rc == 0) == (m.group(1) == "PASS")
    ck.ok("gradcheck prints a verdict = max of the per-parameter errors vs its bound, exit status agrees",
          ok, m.group(0) if m else out[-200:])
    ck.ok("gradcheck of the default net passes", rc == 0 and m is not None and m.group(1) == "PASS", "")


def t_deps_no_sudo():
    # a PATH holding only a fake `id` (uid 1000) and a `dpkg` that knows no
    # package: not root, no sudo
    with tempfile.TemporaryDirectory() as d:
        for name, body in [("id", "echo 1000"), ("dpkg", "exit 1")]:
            with open(os.path.join(d, name), "w") as f:
                f.write("#!/bin/bash\n%s\n" % body)
            os.chmod(os.path.join(d, name), 0o755)
        p = subprocess.run(["/bin/bash", "scripts/deps.sh"], capture_output=True, text=True, env={"PATH": d})
        ck.ok("scripts/deps.sh without root and sudo: exit 1 and the apt-get line to run as root",
              p.returncode == 1 and "apt-get install -y build-essential" in p.stderr and "not root" in p.stderr,
              (p.stdout + p.stderr).strip()[-300:])


TRAIN = ["train", "--num-train", "500", "--num-val", "100", "--num-test", "0", "--batch-size", "25", "--num-epochs", "2",
         "--print-every", "3", "--hidden-dim", "20", "--num-filters", "4", "--seed", "1"]
KEYS = ("kind", "iteration", "epoch", "loss", "learning_rate", "train_acc", "val_acc")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f]


def t_metrics_resume():
    if not os.path.isdir(FASHION):
        ck.ok("train --metrics (skipped: no Fashion-MNIST)", True)
        return
    with tempfile.TemporaryDirectory() as d:
        ref, refm = d + "/ref.safetensors", d + "/ref.jsonl"
        rc, out, err, _ = run(*TRAIN, "--save", ref, "--metrics", refm)
        try:
            lines = read_jsonl(refm)
        except Exception as e:  # a line that is not JSON
            lines = None
            err += repr(e)
        if not okr("train --metrics: exit 0, every line is JSON", rc == 0 and lines, err[-300:]):
            return
        # the truth: the log lines on stdout
        its = [(int(m.group(1)), float(m.group(2))) for m in re.finditer(r"^\(Iteration (\d+) / \d+\) loss: ([0-9.]+)$", out, re.M)]
        eps = [(int(m.group(1)), float(m.group(2)), float(m.group(3)))
               for m in re.finditer(r"^\(Epoch (\d+) / \d+\) train acc: ([0-9.]+); val_acc: ([0-9.]+)$", out, re.M)]
        jit = [(l["iteration"], l["loss"]) for l in lines if l["kind"] == "iteration"]
        jep = [(l["epoch"], l["train_acc"], l["val_acc"]) for l in lines if l["kind"] == "epoch"]
        ck.ok("one iteration line per logged iteration, loss = the log's (1e-6)", len(its) == len(jit) == 14 and all(
            a[0] == b[0] and abs(a[1] - b[1]) <= 1e-6 for a, b in zip(its, jit)), "%d vs %d" % (len(its), len(jit)))
        ck.ok("one epoch line per accuracy check, accuracies = the log's", len(eps) == len(jep) == 3 and all(
            a[0] == b[0] and abs(a[1] - b[1]) <= 1e-6 and abs(a[2] - b[2]) <= 1e-6 for a, b in zip(eps, jep)), "")
        need = {"iteration": ("iteration", "epoch", "loss", "learning_rate", "images_per_s", "elapsed_s"),
                "epoch": ("iteration", "epoch", "train_acc", "val_acc", "learning_rate", "elapsed_s")}
        ck.ok("every line has its fields; elapsed_s never decreases", all(all(k in l for k in need[l["kind"]]) for l in lines)
              and all(a["elapsed_s"] <= b["elapsed_s"] for a, b in zip(lines, lines[1:])), "")
        truth = [tuple(l.get(k) for k in KEYS) for l in lines]
        for kill_at in ("(Iteration 22 ", "(Epoch 1 ", "(Iteration 37 "):
            ck_path, m = d + "/run.safetensors", d + "/run.jsonl"
            for p in (ck_path, m):
                if os.path.exists(p):
                    os.remove(p)
            args = [CONVNET] + TRAIN + ["--save", ck_path, "--checkpoint-every", "4", "--metrics", m]
            child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for line in child.stdout:
                if line.startswith(kill_at):
                    child.send_signal(signal.SIGKILL)
                    break
            child.wait()
            child.stdout.close()
            rc, out, err, _ = run(*TRAIN, "--save", ck_path, "--checkpoint-every", "4", "--metrics", m, "--resume", ck_path)
            got = [tuple(l.get(k) for k in KEYS) for l in read_jsonl(m)] if rc == 0 else []
            ck.ok("kill at %s+ --resume: the metrics file equals the uninterrupted run's (no line twice or missing)"
                  % kill_at.strip(), rc == 0 and got == truth, "rc=%d, %d vs %d lines %s" % (
                      rc, len(got), len(truth), err[-200:]))
        # eval --json and describe --json against their text forms
        rc, out, err, _ = run("eval", "--model", ref, "--num-train", "500", "--num-val", "100", "--num-test", "0")
        rcj, outj, errj, _ = run("eval", "--model", ref, "--num-train", "500", "--num-val", "100", "--num-test", "0",
                                 "--json")
        m = re.search(r"val acc: ([0-9.]+)", out)
        try:
            j = json.loads(outj)
        except ValueError:
            j = {}
        ck.ok("eval --json: accuracy = the text form's, correct/images consistent", rc == 0 and rcj == 0 and m and j and
              abs(j["accuracy"] - float(m.group(1))) <= 1e-6 and j["images"] == 100 and j["correct"] == round(
                  j["accuracy"] * 100) and j["split"] == "val" and j["data"] == "fashion-mnist", outj + errj)
        rc, out, err, _ = run("describe", "--model", ref)
        rcj, outj, errj, _ = run("describe", "--model", ref, "--json")
        try:
            j = json.loads(outj)
        except ValueError:
            j = {}
        m = re.search(r"^net (\S+) \((float\d+)\), input \((\d+),(\d+),(\d+)\), (\d+) parameters", out)
        layer_lines = [l.split()[0] for l in out.splitlines() if l.startswith("  ")]
        kinds = [("%s%s%s" % (l["kind"], "-relu" if l["relu"] else "", "-pool" if l["pool"] else "")) for l in
                 j.get("layers", [])]
        ok = rc == 0 and rcj == 0 and m and j and j["spec"] == m.group(1) and j["dtype"] == m.group(2)
        ok = ok and j["input"] == [int(m.group(3)), int(m.group(4)), int(m.group(5))]
        ok = ok and j["parameters"] == int(m.group(6)) and kinds == layer_lines
        ck.ok("describe --json: spec, dtype, input, parameter count and layers = the text form's", ok,
              "%s vs %s" % (kinds, layer_lines))
        ck.ok("describe --json of a Fashion-MNIST model: its class names and preprocessing",
              j.get("classes", [None])[0] == "T-shirt/top" and j.get("preprocess") == "mean_image", "")


for name, fn in [("metrics_resume", t_metrics_resume), ("flags_before_data", t_flags_before_data), ("fashion_hint", t_fashion_hint),
                 ("default_three_layer", t_default_three_layer), ("gradcheck_verdict", t_gradcheck_verdict),
                 ("deps_no_sudo", t_deps_no_sudo)]:
    ck.run(name, fn)
ck.finish()
