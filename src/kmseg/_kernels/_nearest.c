/* The AVX2 loops of _lloyd.pyx for colour points (d = 3): nearest centres, and the pass over
 * Hamerly's bounds.
 *
 * The build targets any x86-64 (or another machine): these functions are compiled for AVX2
 * alone (a target attribute, not target_clones, whose ifuncs musl and macOS lack), and
 * _lloyd.pyx calls them only when the CPU reports AVX2, asked once at import; it runs its
 * scalar loops otherwise. Four points go side by side, one lane each, and each lane does the
 * scalar loop's operations in its order: (x0 - c0)^2, + (x1 - c1)^2, + (x2 - c2)^2 over the
 * centres in turn, no fused multiply-add (AVX2 alone has none; -ffp-contract=off for the
 * scalar loops), a strict "<" so that the lowest index wins ties. Labels, distances and
 * bounds are the scalar kernels', bit for bit. Across points rather than across centres: no
 * reduction over lanes per point, and the centres are read as stored, (k, 3). A Lloyd step
 * over 40 k random colours, k = 8, took 12.5 ns a point with the scalar loop, 6.3 so.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*kmseg_nearest)(const double *X, const int64_t *rows, ptrdiff_t n,
                              const double *centers, ptrdiff_t k, int64_t *labels,
                              double *first, double *second);
typedef ptrdiff_t (*kmseg_bounds)(const double *X, ptrdiff_t n, const double *centers,
                                  const int64_t *labels, const double *moved,
                                  const double *half_gap, ptrdiff_t top, double runner_up,
                                  double *upper, double *lower, int64_t *rows);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

/* Points p .. p + 3 (rows[p + l] if rows), as one vector per coordinate. The last group
   repeats its last point in the lanes past n. */
AVX2 static inline void load_four(const double *X, const int64_t *rows, ptrdiff_t p,
                                  ptrdiff_t n, __m256d x[3])
{
    const double *point[4];
    for (int lane = 0; lane < 4; lane++) {
        ptrdiff_t q = p + lane < n ? p + lane : n - 1;
        point[lane] = X + 3 * (rows ? rows[q] : q);
    }
    for (int t = 0; t < 3; t++)
        x[t] = _mm256_set_pd(point[3][t], point[2][t], point[1][t], point[0][t]);
}

/* Lane by lane, the scalar squared_distance (_distance.pxd): 0.0 + d0 * d0 is d0 * d0. */
AVX2 static inline __m256d squared_distances(const __m256d x[3], const __m256d c[3])
{
    __m256d diff = _mm256_sub_pd(x[0], c[0]);
    __m256d total = _mm256_mul_pd(diff, diff);
    diff = _mm256_sub_pd(x[1], c[1]);
    total = _mm256_add_pd(total, _mm256_mul_pd(diff, diff));
    diff = _mm256_sub_pd(x[2], c[2]);
    return _mm256_add_pd(total, _mm256_mul_pd(diff, diff));
}

/* One centre in every lane. */
AVX2 static inline void broadcast_center(const double *center, __m256d c[3])
{
    for (int t = 0; t < 3; t++)
        c[t] = _mm256_broadcast_sd(center + t);
}

/* values[stride * labels[lane] + offset] in each lane: scalar loads, which were faster than
   AVX2's gathers here (AMD Zen 3: Lloyd runs on coresets 1.1x, on all colours 1.15x). */
AVX2 static inline __m256d look_up(const double *values, const int64_t labels[4], int stride,
                                   int offset)
{
    return _mm256_set_pd(values[stride * labels[3] + offset], values[stride * labels[2] + offset],
                         values[stride * labels[1] + offset], values[stride * labels[0] + offset]);
}

/* Stores the lanes that hold points (fewer than four in the last group). */
AVX2 static inline void store_four(ptrdiff_t p, ptrdiff_t n, __m256i label, __m256d a,
                                   __m256d b, int64_t *labels, double *first, double *second)
{
    if (p + 4 <= n) {
        _mm256_storeu_si256((__m256i *)(labels + p), label);
        _mm256_storeu_pd(first + p, a);
        if (second)
            _mm256_storeu_pd(second + p, b);
        return;
    }
    int64_t label_lanes[4];
    double a_lanes[4], b_lanes[4];
    _mm256_storeu_si256((__m256i *)label_lanes, label);
    _mm256_storeu_pd(a_lanes, a);
    _mm256_storeu_pd(b_lanes, b);
    for (ptrdiff_t lane = 0; p + lane < n; lane++) {
        labels[p + lane] = label_lanes[lane];
        first[p + lane] = a_lanes[lane];
        if (second)
            second[p + lane] = b_lanes[lane];
    }
}

/* Points p .. p + 3 when all four are there and contiguous: three loads and shuffles (the
   same values as load_four). */
AVX2 static inline void load_four_contiguous(const double *X, ptrdiff_t p, __m256d x[3])
{
    const double *point = X + 3 * p;
    __m256d a = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(point)),
                                     _mm_loadu_pd(point + 6), 1);      /* x0 y0 | x2 y2 */
    __m256d b = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(point + 2)),
                                     _mm_loadu_pd(point + 8), 1);      /* z0 x1 | z2 x3 */
    __m256d c = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(point + 4)),
                                     _mm_loadu_pd(point + 10), 1);     /* y1 z1 | y3 z3 */
    x[0] = _mm256_shuffle_pd(a, b, 0xA);
    x[1] = _mm256_shuffle_pd(a, c, 0x5);
    x[2] = _mm256_shuffle_pd(b, c, 0xA);
}

AVX2 static inline void load_group(const double *X, const int64_t *rows, ptrdiff_t p,
                                   ptrdiff_t n, __m256d x[3])
{
    if (!rows && p + 4 <= n)
        load_four_contiguous(X, p, x);
    else
        load_four(X, rows, p, n, x);
}

/* Nearest centre of each point, two groups of four points at a time (their compare-and-select
   chains overlap; four contiguous points come in three loads: 5-10 % faster on 2-48 k BSDS
   colours, k = 8-13). With two, also the runner-up; the distances (not squared) to both go to
   first and second; without, the squared distance to the nearest goes to first. Inlined into
   nearest and nearest_two with two a constant, so each keeps only its own work. */
AVX2 static inline __attribute__((always_inline)) void search(
    const double *X, const int64_t *rows, ptrdiff_t n, const double *centers, ptrdiff_t k,
    int64_t *labels, double *first, double *second, const int two)
{
    for (ptrdiff_t p = 0; p < n; p += 8) {
        __m256d x[2][3], best[2], runner_up[2];
        __m256i label[2];
        for (int g = 0; g < 2; g++) {
            load_group(X, rows, p + 4 * g < n ? p + 4 * g : p, n, x[g]);
            best[g] = runner_up[g] = _mm256_set1_pd(INFINITY);
            label[g] = _mm256_setzero_si256();
        }
        for (ptrdiff_t j = 0; j < k; j++) {
            __m256d c[3];
            broadcast_center(centers + 3 * j, c);
            __m256d index = _mm256_castsi256_pd(_mm256_set1_epi64x(j));
            for (int g = 0; g < 2; g++) {
                __m256d distance = squared_distances(x[g], c);
                __m256d nearer = _mm256_cmp_pd(distance, best[g], _CMP_LT_OQ);
                if (two) {
                    __m256d second_nearer = _mm256_cmp_pd(distance, runner_up[g], _CMP_LT_OQ);
                    runner_up[g] = _mm256_blendv_pd(
                        _mm256_blendv_pd(runner_up[g], distance, second_nearer), best[g],
                        nearer);
                }
                best[g] = _mm256_blendv_pd(best[g], distance, nearer);
                label[g] = _mm256_castpd_si256(
                    _mm256_blendv_pd(_mm256_castsi256_pd(label[g]), index, nearer));
            }
        }
        for (int g = 0; g < 2 && p + 4 * g < n; g++) {
            if (two)
                store_four(p + 4 * g, n, label[g], _mm256_sqrt_pd(best[g]),
                           _mm256_sqrt_pd(runner_up[g]), labels, first, second);
            else
                store_four(p + 4 * g, n, label[g], best[g], best[g], labels, first, NULL);
        }
    }
}

/* Nearest centre of each point and its squared distance (in first; second unused). */
AVX2 static void nearest(const double *X, const int64_t *rows, ptrdiff_t n,
                         const double *centers, ptrdiff_t k, int64_t *labels, double *first,
                         double *second)
{
    (void)second;
    search(X, rows, n, centers, k, labels, first, NULL, 0);
}

/* Nearest centre of each point; the distances (not squared) to it and to the second-nearest
   centre in first and second. */
AVX2 static void nearest_two(const double *X, const int64_t *rows, ptrdiff_t n,
                             const double *centers, ptrdiff_t k, int64_t *labels, double *first,
                             double *second)
{
    search(X, rows, n, centers, k, labels, first, second, 1);
}

/* Hamerly's bounds of points p .. p + 3 (lloyd_bounded's loop over the points, same
   operations; labels, upper and lower point at the four's): moved with the centres, the upper
   one tightened where they do not settle the label. Returns the lanes still unsettled. The
   tightened distances are computed four at a time when one of the four needs it (a branch
   per point mispredicts). */
AVX2 static inline int bounds_four(const double *X, ptrdiff_t p, ptrdiff_t n,
                                   const double *centers, const double *moved,
                                   const double *half_gap, ptrdiff_t top, double runner_up,
                                   const int64_t *labels, double *upper, double *lower)
{
    __m256d u = _mm256_add_pd(_mm256_loadu_pd(upper), look_up(moved, labels, 1, 0));
    /* lower -= runner_up if a == top else moved[top] */
    __m256i a = _mm256_loadu_si256((const __m256i *)labels);
    __m256d shrink = _mm256_blendv_pd(
        _mm256_set1_pd(moved[top]), _mm256_set1_pd(runner_up),
        _mm256_castsi256_pd(_mm256_cmpeq_epi64(a, _mm256_set1_epi64x(top))));
    __m256d l = _mm256_sub_pd(_mm256_loadu_pd(lower), shrink);
    _mm256_storeu_pd(lower, l);
    /* max(lower, half_gap[a]) as Cython writes it: half_gap[a] > lower ? half_gap[a] : lower */
    __m256d bound = _mm256_max_pd(look_up(half_gap, labels, 1, 0), l);
    __m256d loose = _mm256_cmp_pd(u, bound, _CMP_LT_OQ);
    if (_mm256_movemask_pd(loose) == 15) {
        _mm256_storeu_pd(upper, u);
        return 0;
    }
    __m256d x[3], c[3];
    load_four(X, NULL, p, n, x);
    for (int t = 0; t < 3; t++)
        c[t] = look_up(centers, labels, 3, t);
    __m256d tight = _mm256_sqrt_pd(squared_distances(x, c));
    _mm256_storeu_pd(upper, _mm256_blendv_pd(tight, u, loose));
    return ~_mm256_movemask_pd(_mm256_or_pd(loose, _mm256_cmp_pd(tight, bound, _CMP_LT_OQ))) & 15;
}

/* Appends points p .. p + count - 1 whose lane is set in unsettled to rows[m ..], without
   branching on it; returns the new m. */
static inline ptrdiff_t list_rows(int64_t *rows, ptrdiff_t m, ptrdiff_t p, int count,
                                  int unsettled)
{
    for (int lane = 0; lane < count; lane++) {
        rows[m] = p + lane;
        m += (unsettled >> lane) & 1;
    }
    return m;
}

/* One pass of Hamerly's bounds over the points; the points they leave unsettled go to rows,
   in order. Returns how many. */
AVX2 static ptrdiff_t bounds(const double *X, ptrdiff_t n, const double *centers,
                             const int64_t *labels, const double *moved, const double *half_gap,
                             ptrdiff_t top, double runner_up, double *upper, double *lower,
                             int64_t *rows)
{
    ptrdiff_t m = 0, p = 0;
    for (; p + 4 <= n; p += 4)
        m = list_rows(rows, m, p, 4,
                      bounds_four(X, p, n, centers, moved, half_gap, top, runner_up, labels + p,
                                  upper + p, lower + p));
    if (p < n) {  /* the last points, through four-lane copies (lanes past n: centre 0) */
        int rest = (int)(n - p);
        int64_t label_lanes[4] = {0};
        double upper_lanes[4] = {0}, lower_lanes[4] = {0};
        memcpy(label_lanes, labels + p, rest * sizeof(int64_t));
        memcpy(upper_lanes, upper + p, rest * sizeof(double));
        memcpy(lower_lanes, lower + p, rest * sizeof(double));
        int unsettled = bounds_four(X, p, n, centers, moved, half_gap, top, runner_up,
                                    label_lanes, upper_lanes, lower_lanes);
        memcpy(upper + p, upper_lanes, rest * sizeof(double));
        memcpy(lower + p, lower_lanes, rest * sizeof(double));
        m = list_rows(rows, m, p, rest, unsettled);
    }
    return m;
}

static int has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

kmseg_nearest kmseg_nearest_avx2(void) { return has_avx2() ? nearest : NULL; }
kmseg_nearest kmseg_nearest_two_avx2(void) { return has_avx2() ? nearest_two : NULL; }
kmseg_bounds kmseg_bounds_avx2(void) { return has_avx2() ? bounds : NULL; }

#else

kmseg_nearest kmseg_nearest_avx2(void) { return NULL; }
kmseg_nearest kmseg_nearest_two_avx2(void) { return NULL; }
kmseg_bounds kmseg_bounds_avx2(void) { return NULL; }

#endif
