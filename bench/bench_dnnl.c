/* bench_dnnl.c — oneDNN (Debian's libdnnl-dev, C API) on issue 9's two conv
 * layers, its best case: f32, direct convolution, every tensor in the
 * blocked layout the primitive picks itself (format_tag any), inputs
 * reordered into it once outside the timing. Forward (training), backward
 * data and backward weights with bias, on all threads and on 1 (Debian
 * builds oneDNN on OpenMP: omp_set_num_threads before each primitive is
 * made). Each primitive runs in turn with convnet's call for the same pass
 * (cn_conv_forward, cn_conv_backward with dw+db, with dx alone), round by
 * round, so the ratio is measured over the same seconds of the machine.
 * Prints median ms, GFLOP/s, % of the peak of the level (peak.h) and the
 * implementation oneDNN picked, and convnet's times beside them;
 * bench/run.sh's summary takes the ratio from these pairs. The level:
 * CN_SIMD capped by the CPU, as for convnet; run.sh sets ONEDNN_MAX_CPU_ISA
 * to match (AVX2, SSE41 for generic: oneDNN has no lower named ISA) so the
 * comparison is level for level. CN_BENCH_QUICK=1: all threads only, fewer
 * repeats. */
#include "convnet.h"
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
/* convnet's call for the same pass (0 forward, 1 dw+db, 2 dx), on the
 * same data in its own layout (NCHW) */
typedef struct {
    cn_ctx *ctx;
    const cn_conv_shape *s;
    float *x, *w, *b, *g, *o, *dx, *dw, *db;
} cn_side;
static int cn_pass(const cn_side *c, int pass) {
    if (pass == 0) return cn_conv_forward_f32(c->ctx, c->o, c->x, c->w, c->b, c->s);
    if (pass == 1) return cn_conv_backward_f32(c->ctx, NULL, c->dw, c->db, c->g, c->x, c->w, c->s);
    return cn_conv_backward_f32(c->ctx, c->dx, NULL, NULL, c->g, c->x, c->w, c->s);
}

/* One warm-up of each, then R rounds of oneDNN's primitive and convnet's
 * pass in turn (who goes first alternates): medians and fastest seconds of
 * both. Side by side, so that the ratio of the two is measured over the
 * same seconds of a shared machine (timed a minute apart, a noisy minute
 * moved it by 10-15%). */
static void run_timed(dctx *d, dnnl_primitive_t p, int na, const dnnl_exec_arg_t *a, const cn_side *c, int pass,
                      int R, double *med, double *mn, double *cmed, double *cmn) {
    double t[64], u[64];
    if (R > 64) R = 64;
    CK(dnnl_primitive_execute(p, d->strm, na, a));
    CK(dnnl_stream_wait(d->strm));
    if (cn_pass(c, pass) != CN_OK) { fprintf(stderr, "convnet: %s\n", cn_ctx_error(c->ctx)); exit(1); }
    for (int r = 0; r < R; r++)
        for (int k = 0; k < 2; k++) {
            double t0 = pk_now();
            if ((k ^ (r & 1)) == 0) {
                CK(dnnl_primitive_execute(p, d->strm, na, a));
                CK(dnnl_stream_wait(d->strm));
                t[r] = pk_now() - t0;
            } else {
                (void)cn_pass(c, pass);
                u[r] = pk_now() - t0;
            }
        }
    qsort(t, R, sizeof t[0], cmpd);
    qsort(u, R, sizeof u[0], cmpd);
    *med = t[R / 2], *mn = t[0];
    *cmed = u[R / 2], *cmn = u[0];
}

static void report(const char *what, const char *cell, const char *tag, int lv, int nt, double pkf, double gf,
                   double med, double mn, double cmed, double cmn, const_dnnl_primitive_desc_t pd) {
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    double rate = gf / med, pct = 100 * rate / pkf;
    printf("    %-22s %8.3f ms (min %8.3f)  %7.1f GFLOP/s  %5.1f%% of peak  [%s]\n", what, 1e3 * med, 1e3 * mn, rate,
           pct, impl);
    printf("      convnet in turn      %8.3f ms (min %8.3f)  %7.1f GFLOP/s  %5.1f%% of peak  oneDNN/convnet %.2f "
           "(fastest %.2f)\n",
           1e3 * cmed, 1e3 * cmn, gf / cmed, 100 * gf / cmed / pkf, med / cmed, mn / cmn);
    char name[64];
    snprintf(name, sizeof name, "%s.%s", cell, tag);
    bench_record("onednn", lv, name, nt, med, mn, rate, pct);
    bench_record("pair", lv, name, nt, cmed, cmn, gf / cmed, 100 * gf / cmed / pkf);
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
    cn_conv_shape cs = {N, C, H, W, F, K, K, 1, pad};
    float *o = xmalloc(4 * no), *dx = xmalloc(4 * nx), *dwt = xmalloc(4 * nw), *db = xmalloc(4 * (size_t)F);
    for (int k = 0; k < (quick || nall == 1 ? 1 : 2); k++) {
        int nt = tl[k], R = quick ? 5 : (gf > 1 ? 11 : 31);
        double pkf = peak_at(pk, lv, nt), med, mn, cmed, cmn;
        cn_ctx *ctx = cn_ctx_new(nt); /* its level: CN_SIMD, as bench_layers' */
        if (!ctx) { fprintf(stderr, "out of memory\n"); exit(2); }
        cn_side side = {ctx, &cs, x, w, b, g, o, dx, dwt, db};
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
        run_timed(d, fp, 4, fa, &side, 0, R, &med, &mn, &cmed, &cmn);
        report("forward", cell, "fwd", lv, nt, pkf, gf, med, mn, cmed, cmn, fpd);
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
        run_timed(d, wp, 4, wa4, &side, 1, R, &med, &mn, &cmed, &cmn);
        report("weight grad (dw+db)", cell, "bwd_w", lv, nt, pkf, gf, med, mn, cmed, cmn, wpd);
        /* backward data */
        CK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &xa, &wa, &oa, st, pl, pr));
        CK(dnnl_primitive_desc_create(&dpd, &cd, NULL, d->eng, fpd));
        CK(dnnl_primitive_create(&dp, dpd));
        dnnl_memory_t dg = mem_for(d, dpd, dnnl_query_diff_dst_md, 0, 4, od, dnnl_nchw, g);
        dnnl_memory_t dw = mem_for(d, dpd, dnnl_query_weights_md, 0, 4, wd, dnnl_oihw, w);
        dnnl_memory_t ddx = mem_for(d, dpd, dnnl_query_diff_src_md, 0, 4, xd, dnnl_nchw, NULL);
        dnnl_exec_arg_t da[3] = {{DNNL_ARG_DIFF_DST, dg}, {DNNL_ARG_WEIGHTS, dw}, {DNNL_ARG_DIFF_SRC, ddx}};
        run_timed(d, dp, 3, da, &side, 2, R, &med, &mn, &cmed, &cmn);
        report("input grad (dx)", cell, "bwd_dx", lv, nt, pkf, gf, med, mn, cmed, cmn, dpd);
        dnnl_memory_t all[] = {mx, mw, mb, mo, wx, wg, wdw, wdb, dg, dw, ddx};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dnnl_memory_destroy(all[i]);
        dnnl_primitive_destroy(fp); dnnl_primitive_destroy(wp); dnnl_primitive_destroy(dp);
        dnnl_primitive_desc_destroy(fpd); dnnl_primitive_desc_destroy(wpd); dnnl_primitive_desc_destroy(dpd);
        cn_ctx_free(ctx);
    }
    free(o); free(dx); free(dwt); free(db);
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
