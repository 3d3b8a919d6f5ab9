/* Result records of the per-call paths (issue 10), built without a Python
 * call.  Fill and OrderResult (types.py) are NamedTuples: tuple subclasses
 * with no __dict__ and no extra slots.  tuple.__new__(cls, items) makes one
 * as tp_alloc(cls, n) and then sets every item; these do the same directly,
 * which skips the method lookup, the argument tuple and its copy (about
 * 300 instructions per record).  probo_record_type_ok checks, once at import,
 * that a class has that layout (else the module refuses to load). */
#ifndef PROBO_RECORDS_H
#define PROBO_RECORDS_H
#include <Python.h>

static inline int probo_record_type_ok(PyObject* t, Py_ssize_t n) {
    PyTypeObject* tp = (PyTypeObject*)t;
    PyObject* fields;
    Py_ssize_t k;
    if (!PyType_Check(t) || !PyType_IsSubtype(tp, &PyTuple_Type)
            || tp->tp_basicsize != PyTuple_Type.tp_basicsize
            || tp->tp_itemsize != PyTuple_Type.tp_itemsize
            || tp->tp_dictoffset != 0 || tp->tp_weaklistoffset != 0)
        return 0;
    fields = PyObject_GetAttrString(t, "_fields");
    if (fields == NULL) {
        PyErr_Clear();
        return 0;
    }
    k = PyTuple_Check(fields) ? PyTuple_GET_SIZE(fields) : -1;
    Py_DECREF(fields);
    return k == n;
}

#define PROBO_SET_INT(r, i, x) do { \
    PyObject* v_ = PyLong_FromLongLong(x); \
    if (v_ == NULL) { Py_DECREF(r); return NULL; } \
    PyTuple_SET_ITEM(r, i, v_); } while (0)

/* Fill(maker_oid, maker_user, taker_price, yes_price, qty, kind, fee,
 * maker_fee); t is Fill, kind a FillKind member. */
static inline PyObject* probo_fill_rec(PyObject* t, long long mo, long long mu,
                                       long long p2, long long p, long long q,
                                       PyObject* kind, long long fee,
                                       long long fee2) {
    PyObject* r = ((PyTypeObject*)t)->tp_alloc((PyTypeObject*)t, 8);
    if (r == NULL)
        return NULL;
    Py_INCREF(kind);
    PyTuple_SET_ITEM(r, 5, kind);
    PROBO_SET_INT(r, 0, mo);
    PROBO_SET_INT(r, 1, mu);
    PROBO_SET_INT(r, 2, p2);
    PROBO_SET_INT(r, 3, p);
    PROBO_SET_INT(r, 4, q);
    PROBO_SET_INT(r, 6, fee);
    PROBO_SET_INT(r, 7, fee2);
    return r;
}

/* OrderResult(status, oid, filled, resting, canceled, fills); t is
 * OrderResult, status a RejectReason member, fills a tuple. */
static inline PyObject* probo_result_rec(PyObject* t, PyObject* status,
                                         long long oid, long long filled,
                                         long long resting, long long canceled,
                                         PyObject* fills) {
    PyObject* r = ((PyTypeObject*)t)->tp_alloc((PyTypeObject*)t, 6);
    if (r == NULL)
        return NULL;
    Py_INCREF(status);
    PyTuple_SET_ITEM(r, 0, status);
    Py_INCREF(fills);
    PyTuple_SET_ITEM(r, 5, fills);
    PROBO_SET_INT(r, 1, oid);
    PROBO_SET_INT(r, 2, filled);
    PROBO_SET_INT(r, 3, resting);
    PROBO_SET_INT(r, 4, canceled);
    return r;
}

#undef PROBO_SET_INT
#endif
