/* peak.c — the machine's yardsticks, measured in this run (see peak.h):
 * single-precision FMA peak per instruction-set level, 1 thread and all
 * threads, stream-copy bandwidth and an in-place update stream. The last line, `peak-env: ...`, is what
 * bench/run.sh exports as CN_BENCH_PEAK for the other bench programs. */
#include "peak.h"

int main(void) {
    bench_peak p;
    double med[LV_N][2], bmed[2];
    memset(&p, 0, sizeof p);
    p.nall = omp_get_max_threads();
    printf("== machine peak, measured now: single-precision FMA throughput (best of 15, median beside it)\n");
    printf("   %-8s %-44s %22s %22s\n", "level", "kernel", "1 thread GFLOP/s", "");
    for (int lv = 0; lv < LV_N; lv++) {
        static const char *const what[LV_N] = {
            "SSE2 mulps+addps pairs, 12 accumulators",
            "256-bit vfmadd, 12 accumulators",
            "512-bit vfmadd, 16 accumulators"};
        if (!lv_cpu_has(lv)) {
            printf("   %-8s %-44s not available on this CPU\n", lv_name[lv], what[lv]);
            continue;
        }
        pk_measure(lv, 1, 15, &p.gf[lv][0], &med[lv][0]);
        pk_measure(lv, p.nall, 15, &p.gf[lv][1], &med[lv][1]);
        printf("   %-8s %-44s 1 thread %7.1f (med %7.1f)   %d threads %7.1f (med %7.1f)\n", lv_name[lv],
               what[lv], p.gf[lv][0], med[lv][0], p.nall, p.gf[lv][1], med[lv][1]);
    }
    pk_stream(1, 9, &p.bw[0], &bmed[0]);
    pk_stream(p.nall, 9, &p.bw[1], &bmed[1]);
    printf("   stream copy (memcpy, 256 MB arrays, read+write counted):   1 thread %6.1f GB/s (med %6.1f)   "
           "%d threads %6.1f GB/s (med %6.1f)\n", p.bw[0], bmed[0], p.nall, p.bw[1], bmed[1]);
    pk_stream_mode(1, 9, 1, &p.bwu[0], &bmed[0]);
    pk_stream_mode(p.nall, 9, 1, &p.bwu[1], &bmed[1]);
    printf("   in-place update stream (a = a*s + b, 256 MB arrays, 3 x bytes): 1 thread %6.1f GB/s (med %6.1f)   "
           "%d threads %6.1f GB/s (med %6.1f)\n", p.bwu[0], bmed[0], p.nall, p.bwu[1], bmed[1]);
    printf("   %% of peak on %d threads below divides by the larger of the %d-thread figure and %d x the 1-thread one\n"
           "   (FMA units are per core; other work on shared cores lowers only the measured %d-thread figure)\n",
           p.nall, p.nall, p.nall, p.nall);
    char buf[512];
    peak_format(&p, buf, sizeof buf);
    printf("peak-env: %s\n", buf);
    return 0;
}
