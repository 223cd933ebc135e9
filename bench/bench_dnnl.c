/* bench_dnnl.c — oneDNN (Debian's libdnnl-dev, C API) on issue 9's two conv
 * layers, its best case: f32, direct convolution, every tensor in the
 * blocked layout the primitive picks itself (format_tag any), inputs
 * reordered into it once outside the timing. Forward (training), backward
 * data and backward weights with bias, on all threads and on 1 (Debian
 * builds oneDNN on OpenMP: omp_set_num_threads before each primitive is
 * made). Prints median ms, GFLOP/s, % of the peak of the level (peak.h) and
 * the implementation oneDNN picked; bench/run.sh joins these lines with
 * convnet's for the ratio. The level: CN_SIMD capped by the CPU, as for
 * convnet; run.sh sets ONEDNN_MAX_CPU_ISA to match (AVX2, SSE41 for
 * generic: oneDNN has no lower named ISA) so the comparison is level for
 * level. CN_BENCH_QUICK=1: all threads only, fewer repeats. */
#include "peak.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x)                                                                                   \
    do {                                                                                        \
        dnnl_status_t s_ = (x);                                                                 \
        if (s_ != dnnl_success) {                                                               \
            fprintf(stderr, "oneDNN error %d at %s:%d: %s\n", (int)s_, __FILE__, __LINE__, #x); \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
} dctx;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}

/* A memory in the layout pd chose for (what, idx); when plain is given, its
 * contents (in the plain layout `tag` with dims) are reordered in. */
static dnnl_memory_t mem_for(dctx *d, const_dnnl_primitive_desc_t pd, dnnl_query_t what, int idx, int nd,
                             const dnnl_dims_t dims, dnnl_format_tag_t tag, float *plain) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, idx);
    if (!md) { fprintf(stderr, "oneDNN: no memory desc for query %d\n", (int)what); exit(1); }
    dnnl_memory_t m;
    CK(dnnl_memory_create(&m, md, d->eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    CK(dnnl_memory_get_data_handle(m, &h));
    memset(h, 0, dnnl_memory_desc_get_size(md)); /* touch the pages */
    if (plain) {
        dnnl_memory_desc_t umd;
        dnnl_memory_t um;
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t r;
        CK(dnnl_memory_desc_init_by_tag(&umd, nd, dims, dnnl_f32, tag));
        CK(dnnl_memory_create(&um, &umd, d->eng, plain));
        CK(dnnl_reorder_primitive_desc_create(&rpd, &umd, d->eng, md, d->eng, NULL));
        CK(dnnl_primitive_create(&r, rpd));
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, um}, {DNNL_ARG_TO, m}};
        CK(dnnl_primitive_execute(r, d->strm, 2, a));
        CK(dnnl_stream_wait(d->strm));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(um);
    }
    return m;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* one warm-up, then R runs: median and fastest seconds */
static void run_timed(dctx *d, dnnl_primitive_t p, int na, const dnnl_exec_arg_t *a, int R, double *med, double *mn) {
    double t[64];
    if (R > 64) R = 64;
    CK(dnnl_primitive_execute(p, d->strm, na, a));
    CK(dnnl_stream_wait(d->strm));
    for (int r = 0; r < R; r++) {
        double t0 = pk_now();
        CK(dnnl_primitive_execute(p, d->strm, na, a));
        CK(dnnl_stream_wait(d->strm));
        t[r] = pk_now() - t0;
    }
    qsort(t, R, sizeof t[0], cmpd);
    *med = t[R / 2];
    *mn = t[0];
}

static void report(const char *what, const char *cell, const char *tag, int lv, int nt, double pkf, double gf,
                   double med, double mn, const_dnnl_primitive_desc_t pd) {
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    double rate = gf / med, pct = 100 * rate / pkf;
    printf("    %-22s %8.3f ms (min %8.3f)  %7.1f GFLOP/s  %5.1f%% of peak  [%s]\n", what, 1e3 * med, 1e3 * mn, rate,
           pct, impl);
    char name[64];
    snprintf(name, sizeof name, "%s.%s", cell, tag);
    bench_record("onednn", lv, name, nt, med, mn, rate, pct);
}

static void conv(dctx *d, const char *cell, const char *title, int N, int C, int H, int W, int F, int K, int pad,
                 const bench_peak *pk, int lv, int quick) {
    int Ho = H + 2 * pad - K + 1, Wo = W + 2 * pad - K + 1;
    dnnl_dims_t xd = {N, C, H, W}, wd = {F, C, K, K}, bd = {F}, od = {N, F, Ho, Wo};
    dnnl_dims_t st = {1, 1}, pl = {pad, pad}, pr = {pad, pad};
    size_t nx = (size_t)N * C * H * W, nw = (size_t)F * C * K * K, no = (size_t)N * F * Ho * Wo;
    float *x = xmalloc(4 * nx), *w = xmalloc(4 * nw), *b = xmalloc(4 * (size_t)F), *g = xmalloc(4 * no);
    unsigned s = 12345;
    for (size_t i = 0; i < nx; i++) x[i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 32768.0f - 1;
    for (size_t i = 0; i < nw; i++) w[i] = 0.01f * ((float)((s = s * 1103515245u + 12345u) >> 16) / 32768.0f - 1);
    for (size_t i = 0; i < no; i++) g[i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 32768.0f - 1;
    for (int i = 0; i < F; i++) b[i] = 0.1f;
    double gf = 2.0 * N * F * C * K * K * Ho * Wo * 1e-9;
    printf("%s, float32, %.3f GFLOP per pass\n", title, gf);
    dnnl_memory_desc_t xa, wa, ba, oa;
    CK(dnnl_memory_desc_init_by_tag(&xa, 4, xd, dnnl_f32, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&ba, 1, bd, dnnl_f32, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&oa, 4, od, dnnl_f32, dnnl_format_tag_any));
    int nall = pk->nall, tl[2] = {nall, 1};
    for (int k = 0; k < (quick || nall == 1 ? 1 : 2); k++) {
        int nt = tl[k], R = quick ? 5 : (gf > 1 ? 11 : 31);
        double pkf = peak_at(pk, lv, nt), med, mn;
        omp_set_num_threads(nt); /* before the primitives: their blocking depends on it */
        printf("  %d thread%s (%s peak %.1f GFLOP/s)\n", nt, nt == 1 ? "" : "s", lv_name[lv], pkf);
        /* forward */
        dnnl_convolution_desc_t cd;
        dnnl_primitive_desc_t fpd, dpd, wpd;
        dnnl_primitive_t fp, dp, wp;
        CK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &xa, &wa, &ba,
                                              &oa, st, pl, pr));
        CK(dnnl_primitive_desc_create(&fpd, &cd, NULL, d->eng, NULL));
        CK(dnnl_primitive_create(&fp, fpd));
        dnnl_memory_t mx = mem_for(d, fpd, dnnl_query_src_md, 0, 4, xd, dnnl_nchw, x);
        dnnl_memory_t mw = mem_for(d, fpd, dnnl_query_weights_md, 0, 4, wd, dnnl_oihw, w);
        dnnl_memory_t mb = mem_for(d, fpd, dnnl_query_weights_md, 1, 1, bd, dnnl_a, b);
        dnnl_memory_t mo = mem_for(d, fpd, dnnl_query_dst_md, 0, 4, od, dnnl_nchw, NULL);
        dnnl_exec_arg_t fa[4] = {{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, mo}};
        run_timed(d, fp, 4, fa, R, &med, &mn);
        report("forward", cell, "fwd", lv, nt, pkf, gf, med, mn, fpd);
        /* backward weights, with bias */
        CK(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &xa, &wa, &ba, &oa, st, pl, pr));
        CK(dnnl_primitive_desc_create(&wpd, &cd, NULL, d->eng, fpd));
        CK(dnnl_primitive_create(&wp, wpd));
        dnnl_memory_t wx = mem_for(d, wpd, dnnl_query_src_md, 0, 4, xd, dnnl_nchw, x);
        dnnl_memory_t wg = mem_for(d, wpd, dnnl_query_diff_dst_md, 0, 4, od, dnnl_nchw, g);
        dnnl_memory_t wdw = mem_for(d, wpd, dnnl_query_diff_weights_md, 0, 4, wd, dnnl_oihw, NULL);
        dnnl_memory_t wdb = mem_for(d, wpd, dnnl_query_diff_weights_md, 1, 1, bd, dnnl_a, NULL);
        dnnl_exec_arg_t wa4[4] = {{DNNL_ARG_SRC, wx}, {DNNL_ARG_DIFF_DST, wg}, {DNNL_ARG_DIFF_WEIGHTS, wdw},
                                  {DNNL_ARG_DIFF_BIAS, wdb}};
        run_timed(d, wp, 4, wa4, R, &med, &mn);
        report("weight grad (dw+db)", cell, "bwd_w", lv, nt, pkf, gf, med, mn, wpd);
        /* backward data */
        CK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &xa, &wa, &oa, st, pl, pr));
        CK(dnnl_primitive_desc_create(&dpd, &cd, NULL, d->eng, fpd));
        CK(dnnl_primitive_create(&dp, dpd));
        dnnl_memory_t dg = mem_for(d, dpd, dnnl_query_diff_dst_md, 0, 4, od, dnnl_nchw, g);
        dnnl_memory_t dw = mem_for(d, dpd, dnnl_query_weights_md, 0, 4, wd, dnnl_oihw, w);
        dnnl_memory_t ddx = mem_for(d, dpd, dnnl_query_diff_src_md, 0, 4, xd, dnnl_nchw, NULL);
        dnnl_exec_arg_t da[3] = {{DNNL_ARG_DIFF_DST, dg}, {DNNL_ARG_WEIGHTS, dw}, {DNNL_ARG_DIFF_SRC, ddx}};
        run_timed(d, dp, 3, da, R, &med, &mn);
        report("input grad (dx)", cell, "bwd_dx", lv, nt, pkf, gf, med, mn, dpd);
        dnnl_memory_t all[] = {mx, mw, mb, mo, wx, wg, wdw, wdb, dg, dw, ddx};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dnnl_memory_destroy(all[i]);
        dnnl_primitive_destroy(fp); dnnl_primitive_destroy(wp); dnnl_primitive_destroy(dp);
        dnnl_primitive_desc_destroy(fpd); dnnl_primitive_desc_destroy(wpd); dnnl_primitive_desc_destroy(dpd);
    }
    omp_set_num_threads(nall);
    printf("\n");
    free(x); free(w); free(b); free(g);
}

int main(void) {
    int quick = getenv("CN_BENCH_QUICK") && atoi(getenv("CN_BENCH_QUICK")) > 0;
    char note[256];
    int lv = lv_in_use(NULL, note, sizeof note); /* CN_SIMD capped by the CPU */
    bench_peak pk;
    peak_get(&pk, 0);
    const dnnl_version_t *v = dnnl_version();
    const char *isa = getenv("ONEDNN_MAX_CPU_ISA");
    printf("== oneDNN %d.%d.%d (%s runtime), f32 direct convolution in its own blocked layouts, level %s "
           "(ONEDNN_MAX_CPU_ISA=%s)\n",
           v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other", lv_name[lv],
           isa ? isa : "<unset>");
    dctx d;
    CK(dnnl_engine_create(&d.eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&d.strm, d.eng, dnnl_stream_default_flags));
    conv(&d, "conv7x7", "three-layer conv: x (50,3,32,32) w (32,3,7,7) stride 1 pad 3", 50, 3, 32, 32, 32, 7, 3, &pk,
         lv, quick);
    conv(&d, "conv3x3", "3x3 conv: x (128,64,16,16) w (128,64,3,3) stride 1 pad 1", 128, 64, 16, 16, 128, 3, 1, &pk,
         lv, quick);
    dnnl_stream_destroy(d.strm);
    dnnl_engine_destroy(d.eng);
    return 0;
}
