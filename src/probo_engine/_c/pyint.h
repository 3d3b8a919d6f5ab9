/* An exact Python int's value without a call when it fits in one CPython
 * digit (|v| < 2**30), as Cython's own conversion does; 0 otherwise (the
 * caller then uses PyLong_AsLongLongAndOverflow). */
#ifndef PROBO_PYINT_H
#define PROBO_PYINT_H
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <longintrepr.h>
#endif

static inline int probo_small_int(PyObject* x, long long* v) {
#if PY_VERSION_HEX >= 0x030C0000
    if (_PyLong_IsCompact((PyLongObject*)x)) {
        *v = (long long)_PyLong_CompactValue((PyLongObject*)x);
        return 1;
    }
    return 0;
#else
    Py_ssize_t n = Py_SIZE(x);
    if (n == 0) { *v = 0; return 1; }
    if (n == 1) { *v = (long long)((PyLongObject*)x)->ob_digit[0]; return 1; }
    if (n == -1) { *v = -(long long)((PyLongObject*)x)->ob_digit[0]; return 1; }
    return 0;
#endif
}
#endif
