# cython: language_level=3
# Types, C enums, structs and the Core class layout of the matching core.
# The exact semantics are in docs/semantics.md; the Python mirrors of the enums
# are in types.py (a test checks that the values agree).


from libc.stdint cimport int32_t, int64_t, uint64_t

from probo_engine._types cimport (
    CmdRec,
    Event,
    Expiry,
    IntMap,
    Market,
    Order,
    Position,
    Taker,
    User,
    amount_t,
    oid_t,
    price_t,
    pos_t,
    qty_t,
    seq_t,
    slot_t,
)

# Returned by internal commands when an allocation failed before any mutation.
cdef enum:
    ERR_NOMEM = -1

# zlib.crc32(p[:n], crc), by the core's C code (for _replay's journal records).
cdef unsigned int crc32_update(unsigned int crc, const unsigned char* p,
                               size_t n) noexcept nogil


cdef class Core:
    cdef Order* orders         # arena of order slots
    cdef slot_t cap_orders     # arena capacity, slots
    cdef slot_t free_head      # first free slot (-1 = arena full)
    cdef int64_t n_live        # orders resting in any book
    cdef int64_t n_gtd         # resting GTD orders
    cdef IntMap oid_map        # order id -> arena slot
    cdef IntMap cid_map        # (client_id << 32 | uid) -> arena slot

    cdef User* users           # by user id
    cdef int64_t n_users       # in use
    cdef int64_t cap_users     # allocated

    cdef Market* markets       # by market id
    cdef int64_t n_markets     # in use
    cdef int64_t cap_markets   # allocated

    cdef Position* positions   # by position index
    cdef int64_t n_pos         # in use
    cdef int64_t cap_pos       # allocated
    cdef IntMap pos_map        # (uid << 32 | mid) + 1 -> position index

    cdef Expiry* heap          # min-heap of pending GTD expiries by (ts, oid)
    cdef int64_t n_heap        # in use
    cdef int64_t cap_heap      # allocated

    cdef Event* events         # events of the current command
    cdef int64_t n_events      # in use
    cdef int64_t cap_events    # allocated

    cdef int64_t* touched      # (market, side, index) packed keys of levels changed
    cdef int64_t n_touched     # in use
    cdef int64_t cap_touched   # allocated

    cdef seq_t seq             # last event sequence number issued
    cdef int64_t clock_ts      # highest ts seen (caller units); a lower ts is refused
    cdef oid_t next_oid        # id the next accepted order gets
    cdef amount_t net_cash     # total deposited minus total withdrawn
    cdef amount_t fee_balance  # the fee account, minor units
    cdef qty_t max_qty         # largest order quantity
    cdef int64_t max_open      # live orders per user (0 = unlimited)
    cdef amount_t max_balance  # most cash a deposit may leave a user (0 = unlimited)
    cdef int64_t max_levels    # most price levels per market
    cdef Event scratch         # written instead of an event when the buffer cannot grow
    cdef bint oom              # an event was lost to a failed allocation: unusable
    cdef bint record           # store events (a batch may turn it off; seq counts)
    cdef int busy              # a GIL-released section runs (BUSY_*): others refuse
    cdef unsigned long owner   # thread ident of the section while busy != 0
    cdef qty_t filled          # quantity the incoming order of the last command filled
    cdef int stp_default       # Engine.self_trade: submit's mode when none is given

    # C methods, all final: called directly, never through the vtable
    cdef inline Event* _ev(self, int64_t kind, int64_t ts) noexcept nogil
    cdef inline int _begin(self, int64_t* ts) except -1
    cdef inline int _end(self, int64_t r) except -1
    cdef inline int _guard(self) except -1
    cdef int _enter(self, int what) except -1
    cdef Event* _reject(self, int64_t cmd, int64_t code, int64_t mid, int64_t uid,
                        int64_t oid, int64_t side, int64_t outcome, int64_t price,
                        int64_t qty, int64_t ts) noexcept nogil
    cdef inline void _touch(self, Market* m, int64_t mid, int32_t bside,
                            int32_t idx) noexcept nogil
    cdef void _emit_levels(self, int64_t ts) noexcept nogil
    cdef inline void _level_push(self, slot_t s) noexcept nogil
    cdef inline void _level_remove(self, slot_t s) noexcept nogil
    cdef inline void _order_free(self, slot_t s) noexcept nogil
    cdef void _unlock(self, Order* o, qty_t q) noexcept nogil
    cdef void _cancel_slot(self, slot_t s, int64_t reason, int64_t ts) noexcept nogil
    cdef int _heap_push(self, int64_t ts, oid_t oid) noexcept nogil
    cdef inline int64_t _expire(self, int64_t ts) noexcept nogil
    cdef pos_t _pos_find(self, int64_t uid, int64_t mid) noexcept nogil
    cdef pos_t _pos_make(self, int64_t uid, int64_t mid) noexcept nogil
    cdef inline int _reserve_order(self, int tif, int64_t client_id) noexcept nogil
    cdef int _grow_arena(self) noexcept nogil
    cdef bint _crosses(self, Market* m, int bside, price_t yprice) noexcept nogil
    cdef qty_t _fillable(self, Market* m, Taker* t, qty_t need) noexcept nogil
    cdef inline void _match(self, Market* m, Taker* t, int64_t ts) noexcept nogil
    cdef inline bint _finish(self, Market* m, Taker* t, slot_t s,
                             int64_t ts) noexcept nogil
    cdef inline int64_t _place_refusal(self, int64_t uid, int64_t mid, int64_t price,
                                       int64_t qty, int tif, int64_t ts,
                                       int64_t client_id,
                                       int64_t expire_ts) noexcept nogil
    cdef inline void _rest_new(self, Taker* t, slot_t s, int64_t client_id,
                               int64_t expire_ts) noexcept nogil
    cdef int64_t _place(self, int64_t uid, int64_t mid, int action, int outcome,
                        int64_t price, int64_t qty, int tif, int stp, int64_t ts,
                        int flags, int64_t client_id, int64_t expire_ts,
                        int64_t max_cost) noexcept nogil
    cdef int64_t _amend(self, int64_t uid, int64_t oid, int64_t price, int64_t qty,
                        int64_t ts) noexcept nogil
    cdef int64_t _cancel(self, int64_t uid, int64_t oid, int64_t ts) noexcept nogil
    cdef int64_t _cancel_client(self, int64_t uid, int64_t client_id,
                                int64_t ts) noexcept nogil
    cdef int64_t _cancel_all(self, int64_t uid, int64_t mid, int64_t ts) noexcept nogil
    cdef inline int64_t _cash(self, int64_t uid, int64_t amount, bint deposit,
                              int64_t ts) noexcept nogil
    cdef inline int64_t _pair(self, int64_t uid, int64_t mid, int64_t qty,
                              bint mint, int64_t ts) noexcept nogil
    cdef int64_t _dispatch(self, const CmdRec* c) noexcept nogil
    cdef void _look_ahead(self, const CmdRec* cmds, Py_ssize_t i,
                          Py_ssize_t n) noexcept nogil
    cdef inline bint _unknown_user(self, int64_t uid) noexcept nogil
    cdef int _check_user(self, int64_t uid) except -1
    cdef Market* _market(self, int64_t mid) except NULL
