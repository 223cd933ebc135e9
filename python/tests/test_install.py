"""make install / make uninstall into temporary directories:
  1. DESTDIR=T PREFIX=/usr/local: every file in place (versioned library with
     its soname and links, static library, header, convnet.pc, CLI, man page,
     Python package in a directory Debian's python3 searches);
     examples/conv_sum.c built with `pkg-config --cflags --libs convnet`
     (PKG_CONFIG_SYSROOT_DIR=T) and run from T, its output against numpy's
     window sums; a static link with `pkg-config --static`; libconvnet-plot
     the same way (its own soname, convnet-plot.pc, a chart drawn through it)
     while libconvnet itself needs no cairo; uninstall leaves no file behind.
  2. PREFIX=T/p (no DESTDIR): the installed package imported from outside the
     repository, with neither CONVNET_LIB nor the repository on the path,
     loads T/p/lib/libconvnet.so.1 and computes a convolution."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import checklib as ck

BUILD = os.environ.get("BUILD", "build")
REPO = os.getcwd()


def okr(name, cond, note=""):
    """ck.ok that also returns the verdict (for checks that gate the next ones)."""
    ck.ok(name, cond, note)
    return bool(cond)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CONVNET_LIB", "PYTHONPATH", "PKG_CONFIG_PATH",
                        "LD_LIBRARY_PATH")}
    env.update(extra)
    return env


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def make(*args):
    return sh(["make", "-s", "--no-print-directory", "BUILD=" + BUILD] + list(args), env=clean_env())


def window_sums():
    x = np.arange(25, dtype=np.float64).reshape(5, 5)
    return np.array([x[i:i + 3, j:j + 3].sum() for i in range(3) for j in range(3)])


def parse_sums(out):
    if ":" not in out:
        return None
    return np.array([float(v) for v in out.split(":", 1)[1].split()])


def t_destdir():
    with tempfile.TemporaryDirectory() as t:
        p = make("install", "DESTDIR=" + t, "PREFIX=/usr/local")
        if not okr("make install DESTDIR=T PREFIX=/usr/local exits 0", p.returncode == 0, p.stderr[-400:]):
            return
        root = t + "/usr/local"
        lib = root + "/lib"
        pyver = "%d.%d" % sys.version_info[:2]
        files = ["bin/convnet", "lib/libconvnet.so.1.0.0", "lib/libconvnet.a", "include/convnet.h",
                 "lib/pkgconfig/convnet.pc", "share/man/man1/convnet.1",
                 "lib/libconvnet-plot.so.1.0.0", "lib/libconvnet-plot.a", "include/convnet_plot.h",
                 "lib/pkgconfig/convnet-plot.pc",
                 "lib/python%s/dist-packages/convnet/__init__.py" % pyver,
                 "lib/python%s/dist-packages/convnet/classifiers/cnn.py" % pyver,
                 "lib/python%s/dist-packages/convnet/_installed.py" % pyver]
        missing = [f for f in files if not os.path.isfile(os.path.join(root, f))]
        ck.ok("installed: CLI, libraries, header, convnet.pc, man page, Python package", not missing, str(missing))
        links = [(lib + "/libconvnet.so.1", "libconvnet.so.1.0.0"), (lib + "/libconvnet.so", "libconvnet.so.1")]
        ck.ok("links libconvnet.so -> libconvnet.so.1 -> libconvnet.so.1.0.0",
              all(os.path.islink(a) and os.readlink(a) == b for a, b in links), "")
        r = sh(["readelf", "-d", lib + "/libconvnet.so.1.0.0"])
        good = "Library soname: [libconvnet.so.1]" in r.stdout
        ck.ok("the library's SONAME is libconvnet.so.1", good, "" if good else r.stdout[-200:])
        good = r.returncode == 0 and "cairo" not in r.stdout
        ck.ok("libconvnet.so does not need cairo (the pictures are in libconvnet-plot)", good,
              "" if good else r.stdout[-300:])
        links = [(lib + "/libconvnet-plot.so.1", "libconvnet-plot.so.1.0.0"),
                 (lib + "/libconvnet-plot.so", "libconvnet-plot.so.1")]
        ck.ok("links libconvnet-plot.so -> libconvnet-plot.so.1 -> libconvnet-plot.so.1.0.0",
              all(os.path.islink(a) and os.readlink(a) == b for a, b in links), "")
        r = sh(["readelf", "-d", lib + "/libconvnet-plot.so.1.0.0"])
        good = "Library soname: [libconvnet-plot.so.1]" in r.stdout and "[libconvnet.so.1]" in r.stdout \
            and "[libcairo.so" in r.stdout
        ck.ok("libconvnet-plot's SONAME is libconvnet-plot.so.1; it needs libconvnet.so.1 and cairo", good,
              "" if good else r.stdout[-300:])
        sp = sh(["/usr/bin/python3", "-c", "import sys; print('\\n'.join(sys.path))"], env=clean_env()).stdout.split()
        ck.ok("the Python package's directory is on Debian python3's sys.path",
              "/usr/local/lib/python%s/dist-packages" % pyver in sp, "")
        if shutil.which("man"):
            man = sh(["man", "-l", root + "/share/man/man1/convnet.1"], env=clean_env(MANWIDTH="80"))
            text = " ".join(man.stdout.split())
            ck.ok("man page renders (NAME, predict, export)", man.returncode == 0 and "convnet - train" in text
                  and "convnet predict --model" in text and "convnet export --model" in text, man.stderr[-200:])
        else:
            with open(root + "/share/man/man1/convnet.1") as f:
                head = f.read()
            ck.ok("man page installed (.TH CONVNET 1; man not installed, so not rendered)",
                  "\n.TH CONVNET 1 " in head and ".SH NAME" in head, "")

        pc = clean_env(PKG_CONFIG_PATH=lib + "/pkgconfig", PKG_CONFIG_SYSROOT_DIR=t)
        flags = sh(["pkg-config", "--cflags", "--libs", "convnet"], env=pc)
        good = flags.returncode == 0 and "-lconvnet" in flags.stdout and "-I" + root + "/include" in flags.stdout
        ck.ok("pkg-config --cflags --libs convnet", good, "" if good else flags.stdout + flags.stderr)
        static = sh(["pkg-config", "--static", "--libs", "convnet"], env=pc).stdout.split()
        want = ["-lopenblas", "-lz", "-lpng16", "-ljpeg", "-fopenmp", "-lm"]
        ck.ok("pkg-config --static lists the private libraries", all(w in static for w in want),
              "missing %s" % [w for w in want if w not in static])
        ck.ok("convnet.pc does not bring cairo", "-lcairo" not in static, "" if "-lcairo" not in static else "it does")
        t_plot_pc(t, root, lib, pc)
        exe = t + "/conv_sum"
        cc = sh(["cc", "examples/conv_sum.c", "-o", exe] + flags.stdout.split(), env=clean_env())
        if okr("examples/conv_sum.c builds against the installed convnet", cc.returncode == 0, cc.stderr[-300:]):
            run = sh([exe], env=clean_env(LD_LIBRARY_PATH=lib))
            ldd = sh(["ldd", exe], env=clean_env(LD_LIBRARY_PATH=lib)).stdout
            good = lib + "/libconvnet.so.1" in ldd
            ck.ok("it loads the installed libconvnet.so.1", good, "" if good else ldd[:300])
            got = parse_sums(run.stdout)
            ck.close("its window sums = numpy's (0..24 in 5x5, 3x3 ones)",
                     got if got is not None else np.zeros(1), window_sums(), 0)
        # a static link of the same program
        sexe = t + "/conv_sum_static"
        libs = [a for a in static if a != "-lconvnet"]
        cc = sh(["cc", "examples/conv_sum.c", "-o", sexe, "-I" + root + "/include", lib + "/libconvnet.a"] + libs,
                env=clean_env())
        if okr("static link with pkg-config --static", cc.returncode == 0, cc.stderr[-300:]):
            got = parse_sums(sh([sexe], env=clean_env()).stdout)
            ck.close("static build: same window sums", got if got is not None else np.zeros(1), window_sums(), 0)
        p = make("uninstall", "DESTDIR=" + t, "PREFIX=/usr/local")
        left = [os.path.join(d, f) for d, _, fs in os.walk(t) for f in fs if not f.startswith("conv_sum")]
        ck.ok("make uninstall removes every installed file", p.returncode == 0 and not left, str(left[:5]))


PLOT_PROGRAM = r"""
#include <convnet_plot.h>
#include <stdio.h>
int main(int argc, char **argv) {
    double y[3] = {3, 1, 2};
    cn_series s = {"loss", y, NULL, 3, 1};
    cn_ctx *ctx = cn_ctx_new(1);
    int rc = cn_plot_png(ctx, argv[1], "t", "x", "y", &s, 1);
    if (rc) printf("%s\n", cn_ctx_error(ctx));
    cn_ctx_free(ctx);
    return rc ? 1 : 0;
}
"""


def t_plot_pc(t, root, lib, pc):
    """convnet-plot.pc: -lconvnet-plot before -lconvnet; a chart drawn through the installed libraries."""
    flags = sh(["pkg-config", "--cflags", "--libs", "convnet-plot"], env=pc)
    words = flags.stdout.split()
    good = flags.returncode == 0 and "-lconvnet-plot" in words and "-lconvnet" in words \
        and words.index("-lconvnet-plot") < words.index("-lconvnet") and "-I" + root + "/include" in words
    ck.ok("pkg-config --cflags --libs convnet-plot: -lconvnet-plot then -lconvnet", good,
          "" if good else flags.stdout + flags.stderr)
    static = sh(["pkg-config", "--static", "--libs", "convnet-plot"], env=pc).stdout.split()
    ck.ok("pkg-config --static convnet-plot lists cairo", "-lcairo" in static, "" if "-lcairo" in static else "it does not")
    src, exe, png = t + "/plot_one.c", t + "/plot_one", t + "/plot_one.png"
    with open(src, "w") as f:
        f.write(PLOT_PROGRAM)
    cc = sh(["cc", src, "-o", exe] + words, env=clean_env())
    if okr("a chart program builds against the installed convnet-plot", cc.returncode == 0, cc.stderr[-300:]):
        run = sh([exe, png], env=clean_env(LD_LIBRARY_PATH=lib))
        with open(png, "rb") as f:
            head = f.read(8) if run.returncode == 0 else b""
        ck.ok("it draws a PNG through the installed libconvnet-plot.so.1", head == b"\x89PNG\r\n\x1a\n",
              run.stdout + run.stderr)
    for p in (src, exe, png):
        if os.path.exists(p):
            os.remove(p)


def t_prefix_python():
    with tempfile.TemporaryDirectory() as t:
        prefix = t + "/p"
        p = make("install", "PREFIX=" + prefix)
        if not okr("make install PREFIX=T/p exits 0", p.returncode == 0, p.stderr[-400:]):
            return
        pyver = "%d.%d" % sys.version_info[:2]
        pydir = "%s/lib/python%s/dist-packages" % (prefix, pyver)
        code = ("import convnet, numpy as np\n"
                "from convnet import _lib, fast_layers, layers\n"
                "x = np.random.RandomState(0).randn(2, 3, 6, 6); w = np.random.RandomState(1).randn(4, 3, 3, 3)\n"
                "b = np.zeros(4); cp = {'stride': 1, 'pad': 1}\n"
                "o1 = fast_layers.conv_forward_fast(x, w, b, cp)[0]\n"
                "xp = np.pad(x, ((0,0),(0,0),(1,1),(1,1)))\n"
                "o2 = np.array([[[[np.sum(xp[n,:,i:i+3,j:j+3]*w[f]) for j in range(6)] for i in range(6)]"
                " for f in range(4)] for n in range(2)])\n"
                "print(convnet.__file__); print(_lib.library_path()); print(np.max(np.abs(o1 - o2)))\n")
        r = sh(["/usr/bin/python3", "-c", code], cwd=t, env=clean_env(PYTHONPATH=pydir))
        lines = r.stdout.split("\n")
        ok = r.returncode == 0 and len(lines) >= 3
        good = ok and lines[0].startswith(pydir)
        ck.ok("installed package imported from outside the repository", good, "" if good else (r.stdout + r.stderr)[-300:])
        ck.ok("it loads the installed library (no CONVNET_LIB)", ok and lines[1] == prefix + "/lib/libconvnet.so.1",
              lines[1] if ok else "")
        ck.ok("installed package: conv_forward_fast = direct loops (1e-10)", ok and float(lines[2]) < 1e-10,
              lines[2] if ok else "")
        r = sh([prefix + "/bin/convnet", "info"], env=clean_env())
        ck.ok("installed CLI runs", r.returncode == 0 and r.stdout.startswith("convnet 1.0"), r.stdout[:100])


for name, fn in [("destdir", t_destdir), ("prefix_python", t_prefix_python)]:
    ck.run(name, fn)
ck.finish()
