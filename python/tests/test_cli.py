"""The convnet CLI from the outside: flag checks before data, messages that
say what to do, gradcheck's verdict, scripts/deps.sh without root or sudo.
Runs $BUILD/convnet (build/ by default) as a child process."""
import os
import re
import subprocess
import tempfile
import time

import checklib as ck

BUILD = os.environ.get("BUILD", "build")
CONVNET = os.path.join(BUILD, "convnet")
FASHION = "/usr/share/datasets/fashion-mnist"


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


for name, fn in [("flags_before_data", t_flags_before_data), ("fashion_hint", t_fashion_hint),
                 ("default_three_layer", t_default_three_layer), ("gradcheck_verdict", t_gradcheck_verdict),
                 ("deps_no_sudo", t_deps_no_sudo)]:
    ck.run(name, fn)
ck.finish()
