# cython: language_level=3
# Types, C enums, structs and the Core class layout of the matching core.
# The exact semantics are in docs/semantics.md; the Python mirrors of the enums
# are in types.py (a test checks that the values agree).

cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

ctypedef int32_t price_t    # price in minor units (paise), YES terms inside the book
ctypedef int64_t qty_t      # share quantity
ctypedef int64_t amount_t   # money in minor units
ctypedef uint64_t oid_t     # order id, 1.. (0 = none)
ctypedef uint64_t seq_t     # event sequence number, 1..
ctypedef int32_t slot_t     # index into the order arena (-1 = none)
ctypedef int32_t pos_t      # index into the position array (-1 = none)

cdef enum:
    SIDE_BUY = 0
    SIDE_SELL = 1

    OUTCOME_YES = 0
    OUTCOME_NO = 1

    BOOK_BID = 0
    BOOK_ASK = 1

    TIF_GTC = 0
    TIF_IOC = 1
    TIF_FOK = 2

    STP_CANCEL_MAKER = 0
    STP_CANCEL_TAKER = 1
    STP_CANCEL_BOTH = 2

    FILL_TRANSFER = 0
    FILL_MINT = 1
    FILL_MERGE = 2

    CANCEL_USER = 1
    CANCEL_IOC = 2
    CANCEL_SELF_TRADE = 3

    MARKET_OPEN = 0

    EV_ACCEPTED = 1
    EV_REJECTED = 2
    EV_FILL = 3
    EV_CANCELED = 4
    EV_LEVEL = 5
    EV_MARKET = 6
    EV_CASH = 7

    CMD_PLACE = 1
    CMD_CANCEL = 2
    CMD_DEPOSIT = 3
    CMD_WITHDRAW = 4

    REJ_OK = 0
    REJ_UNKNOWN_USER = 101
    REJ_UNKNOWN_MARKET = 102
    REJ_PRICE_OFF_GRID = 103
    REJ_INVALID_QTY = 104
    REJ_INVALID_AMOUNT = 105
    REJ_INSUFFICIENT_FUNDS = 201
    REJ_INSUFFICIENT_SHARES = 202
    REJ_CASH_LIMIT = 203
    REJ_FOK_NOT_FILLABLE = 301
    REJ_UNKNOWN_ORDER = 302

ctypedef struct Order:
    oid_t oid          # order id (0 while the slot is free)
    qty_t qty          # quantity still resting, shares
    qty_t orig_qty     # quantity when accepted, shares
    slot_t prev        # previous order in the level FIFO (-1 = head)
    slot_t next        # next order in the level FIFO, or next free slot
    slot_t uprev       # previous live order of the same user (-1 = first)
    slot_t unext       # next live order of the same user (-1 = last)
    uint32_t uid       # owner
    uint32_t mid       # market
    pos_t pos          # owner's position record in this market
    price_t yprice     # limit price in YES terms, minor units
    uint8_t action     # SIDE_BUY / SIDE_SELL
    uint8_t outcome    # OUTCOME_YES / OUTCOME_NO
    uint8_t bside      # BOOK_BID / BOOK_ASK (derived from action and outcome)
    uint8_t tif        # time in force it was placed with


ctypedef struct Level:
    qty_t total        # sum of resting quantity at this price, shares
    slot_t head        # oldest order (-1 = empty)
    slot_t tail        # newest order (-1 = empty)
    int32_t count      # number of resting orders
    int32_t touched    # 1 while listed in the current command's LEVEL events


ctypedef struct Market:
    price_t payout     # value of one YES+NO pair, minor units
    price_t tick       # price step, minor units
    int32_t nlevels    # payout // tick - 1 price levels per side
    int32_t nwords     # 64-bit words in each occupancy bitmap
    int32_t best_bid   # level index of the best bid (-1 = none)
    int32_t best_ask   # level index of the best ask (nlevels = none)
    int32_t status     # MARKET_OPEN
    price_t last_price # last trade price, YES terms (0 = none)
    qty_t outstanding  # YES+NO pairs in existence (= YES shares = NO shares)
    Level* levels      # 2 * nlevels: bids at [0, n), asks at [n, 2n); index = price//tick - 1
    uint64_t* bits     # 2 * nwords: occupancy bitmaps, bids then asks


ctypedef struct Position:
    uint32_t uid       # owner
    uint32_t mid       # market
    qty_t avail[2]     # available shares by outcome (YES, NO)
    qty_t locked[2]    # shares locked by resting sells, by outcome


ctypedef struct User:
    amount_t avail     # available cash, minor units
    amount_t locked    # cash locked by resting buys, minor units
    slot_t head        # oldest live order (-1 = none)
    slot_t tail        # newest live order (-1 = none)


# One event: 15 int64 fields in the order of docs/semantics.md "Events".
ctypedef struct Event:
    int64_t seq
    int64_t kind
    int64_t ts
    int64_t market
    int64_t user
    int64_t oid
    int64_t side
    int64_t outcome
    int64_t price
    int64_t qty
    int64_t code
    int64_t user2
    int64_t oid2
    int64_t price2
    int64_t aux


# Open-addressing hash table (linear probing, power-of-two capacity,
# backward-shift deletion).  Keys are never 0; 0 marks an empty bucket.
ctypedef struct IntMap:
    uint64_t* keys     # 0 = empty
    int32_t* vals      # slot or position index
    int64_t cap        # buckets (power of two)
    int64_t size       # live keys
    int32_t shift      # 64 - log2(cap), for Fibonacci hashing


cdef class Core:
    cdef Order* orders         # arena of order slots
    cdef slot_t cap_orders     # arena capacity, slots
    cdef slot_t free_head      # first free slot (-1 = arena full)
    cdef int64_t n_live        # orders resting in any book
    cdef IntMap oid_map        # order id -> arena slot

    cdef User* users           # by user id
    cdef int64_t n_users
    cdef int64_t cap_users

    cdef Market* markets       # by market id
    cdef int64_t n_markets
    cdef int64_t cap_markets

    cdef Position* positions   # by position index
    cdef int64_t n_pos
    cdef int64_t cap_pos
    cdef IntMap pos_map        # (uid << 32 | mid) + 1 -> position index

    cdef Event* events         # events of the current command
    cdef int64_t n_events
    cdef int64_t cap_events

    cdef int64_t* touched      # (market, side, index) packed keys of levels changed
    cdef int64_t n_touched
    cdef int64_t cap_touched

    cdef seq_t seq             # last event sequence number issued
    cdef oid_t next_oid        # id the next accepted order gets
    cdef amount_t net_cash     # total deposited minus total withdrawn
    cdef Event scratch         # written instead of an event when the buffer cannot grow
    cdef bint oom              # an event was lost to a failed allocation: engine unusable

    # C methods (final: called directly, never through the vtable)
    @cython.final
    cdef Event* _ev(self, int64_t kind, int64_t ts) noexcept nogil
    @cython.final
    cdef int _begin(self) except -1
    @cython.final
    cdef int _end(self) except -1
    @cython.final
    cdef void _reject(self, int64_t cmd, int64_t code, int64_t mid, int64_t uid,
                      int64_t oid, int64_t side, int64_t outcome, int64_t price,
                      int64_t qty, int64_t ts) noexcept nogil
    @cython.final
    cdef void _touch(self, Market* m, int64_t mid, int32_t bside,
                            int32_t idx) noexcept nogil
    @cython.final
    cdef void _emit_levels(self, int64_t ts) noexcept nogil
    @cython.final
    cdef void _unlink(self, slot_t s) noexcept nogil
    @cython.final
    cdef void _unlock(self, Order* o, qty_t q) noexcept nogil
    @cython.final
    cdef void _cancel_slot(self, slot_t s, int64_t reason, int64_t ts) noexcept nogil
    @cython.final
    cdef void _settle(self, int32_t uid, pos_t pos, int action,
                             int outcome, price_t limit, price_t x, qty_t q,
                             price_t payout) noexcept nogil
    @cython.final
    cdef pos_t _pos_find(self, int64_t uid, int64_t mid) noexcept nogil
    @cython.final
    cdef pos_t _pos_make(self, int64_t uid, int64_t mid) noexcept nogil
    @cython.final
    cdef qty_t _fillable(self, Market* m, int32_t bside, price_t yprice,
                         int64_t uid, int stp, qty_t need) noexcept nogil
    @cython.final
    cdef int64_t _place(self, int64_t uid, int64_t mid, int action, int outcome,
                        int64_t price, int64_t qty, int tif, int stp,
                        int64_t ts) noexcept nogil
    @cython.final
    cdef int _grow_arena(self) noexcept nogil
    @cython.final
    cdef void _rest(self, oid_t oid, int64_t uid, int64_t mid, pos_t pos,
                    int action, int outcome, int32_t bside, price_t yprice,
                    qty_t left, qty_t orig, int tif) noexcept nogil
    @cython.final
    cdef int64_t _cancel(self, int64_t uid, int64_t oid, int64_t ts) noexcept nogil
    @cython.final
    cdef int64_t _cash(self, int64_t uid, int64_t amount, bint deposit,
                       int64_t ts) noexcept nogil
    @cython.final
    cdef int _check_user(self, int64_t uid) except -1
    @cython.final
    cdef Market* _market(self, int64_t mid) except NULL
    @cython.final
    cdef tuple _order_tuple(self, slot_t s, bint with_mid)
