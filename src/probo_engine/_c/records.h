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
#include <stddef.h>
#include <string.h>
#if PY_VERSION_HEX >= 0x030C0000
#define PROBO_T_OBJECT_EX Py_T_OBJECT_EX
#define PROBO_READONLY Py_READONLY
#else
#include <structmember.h>
#define PROBO_T_OBJECT_EX T_OBJECT_EX
#define PROBO_READONLY READONLY
#endif

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

/* Give a NamedTuple class t member descriptors for its fields: READONLY
 * T_OBJECT_EX members at the tuple's item slots, as structseq types have,
 * in place of collections' _tuplegetter.  Same values, same read-only
 * attributes, same docs; the interpreter's attribute cache specialises a
 * member read (LOAD_ATTR_SLOT) but not a _tuplegetter (a data descriptor of
 * another type), which saves ~80 instructions per `result.fills` or
 * `fill.qty`.  The PyMemberDefs live as long as the process (the descriptors
 * point at them).  0 on success, -1 with an exception set. */
static inline int probo_member_fields(PyObject* t) {
    PyObject *fields, *name, *old, *doc, *descr;
    PyMemberDef* defs;
    const char *s, *d;
    Py_ssize_t i, n;
    fields = PyObject_GetAttrString(t, "_fields");
    if (fields == NULL)
        return -1;
    if (!PyTuple_Check(fields)) {
        Py_DECREF(fields);
        PyErr_SetString(PyExc_TypeError, "_fields is not a tuple");
        return -1;
    }
    n = PyTuple_GET_SIZE(fields);
    defs = (PyMemberDef*)PyMem_Calloc((size_t)n + 1, sizeof(PyMemberDef));
    if (defs == NULL) {
        Py_DECREF(fields);
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        name = PyTuple_GET_ITEM(fields, i);
        s = PyUnicode_AsUTF8(name);
        old = s ? PyObject_GetAttr(t, name) : NULL;
        doc = old ? PyObject_GetAttrString(old, "__doc__") : NULL;
        Py_XDECREF(old);
        if (doc == NULL)
            goto fail;
        d = PyUnicode_Check(doc) ? PyUnicode_AsUTF8(doc) : NULL;
        defs[i].name = s ? strdup(s) : NULL;
        defs[i].doc = d ? strdup(d) : NULL;
        Py_DECREF(doc);
        if (defs[i].name == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        defs[i].type = PROBO_T_OBJECT_EX;
        defs[i].offset = (Py_ssize_t)(offsetof(PyTupleObject, ob_item)
                                      + (size_t)i * sizeof(PyObject*));
        defs[i].flags = PROBO_READONLY;
        descr = PyDescr_NewMember((PyTypeObject*)t, &defs[i]);
        if (descr == NULL)
            goto fail;
        if (PyObject_SetAttr(t, name, descr) < 0) {
            Py_DECREF(descr);
            goto fail;
        }
        Py_DECREF(descr);
    }
    Py_DECREF(fields);
    return 0;
fail:
    /* descriptors already set keep their defs: leak them, free nothing */
    Py_DECREF(fields);
    return -1;
}
#endif
