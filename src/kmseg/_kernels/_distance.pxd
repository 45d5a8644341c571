# The one distance loop the kernels share (inlined into each).


cdef inline double squared_distance(const double *a, const double *b, Py_ssize_t d) noexcept nogil:
    """Squared Euclidean distance between two rows of ``d`` values.

    Kernels run their loops with a literal ``d = 3`` for colour points, so that the compiler
    unrolls this loop: a Lloyd step over 48 k colours, k = 8, took 1.25 ms with ``d`` unknown
    and 0.68 ms so. The sum runs in the same order either way (same results, bit for bit).
    """
    cdef double total = 0.0, diff
    cdef Py_ssize_t t
    for t in range(d):
        diff = a[t] - b[t]
        total += diff * diff
    return total
