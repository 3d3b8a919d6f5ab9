# cython: language_level=3
# Types, C enums, structs and the Core class layout of the matching core.
# The exact semantics are in docs/semantics.md; the Python mirrors of the enums
# are in types.py (a test checks that the values agree).

cimport cython
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t

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
    TIF_GTD = 3

    STP_CANCEL_MAKER = 0
    STP_CANCEL_TAKER = 1
    STP_CANCEL_BOTH = 2

    FILL_TRANSFER = 0
    FILL_MINT = 1
    FILL_MERGE = 2

    CANCEL_USER = 1
    CANCEL_IOC = 2
    CANCEL_SELF_TRADE = 3
    CANCEL_EXPIRED = 4
    CANCEL_HALTED = 5
    CANCEL_CLOSED = 6
    CANCEL_RESOLVED = 7

    MARKET_OPEN = 0
    MARKET_HALTED = 1
    MARKET_CLOSED = 2
    MARKET_RESOLVED = 3

    FEE_BPS = 0
    FEE_CURVE = 1

    EV_ACCEPTED = 1
    EV_REJECTED = 2
    EV_FILL = 3
    EV_CANCELED = 4
    EV_LEVEL = 5
    EV_MARKET = 6
    EV_CASH = 7
    EV_AMENDED = 8
    EV_PAIR = 9
    EV_SETTLEMENT = 10

    CMD_PLACE = 1
    CMD_CANCEL = 2
    CMD_DEPOSIT = 3
    CMD_WITHDRAW = 4
    CMD_AMEND = 5
    CMD_CANCEL_ALL = 6
    CMD_MINT = 7
    CMD_MERGE = 8
    CMD_HALT = 9
    CMD_RESUME = 10
    CMD_CLOSE = 11
    CMD_RESOLVE = 12
    CMD_PLACE_MARKET = 13  # batch records only (rejections report CMD_PLACE)
    CMD_EXPIRE = 14        # batch records only
    CMD_CREATE_USER = 32   # journal records only (commands.py)
    CMD_CREATE_MARKET = 33 # journal records only (commands.py)

    REJ_OK = 0
    REJ_UNKNOWN_USER = 101
    REJ_UNKNOWN_MARKET = 102
    REJ_PRICE_OFF_GRID = 103
    REJ_INVALID_QTY = 104
    REJ_INVALID_AMOUNT = 105
    REJ_DUPLICATE_CLIENT_ID = 106
    REJ_INVALID_EXPIRY = 107
    REJ_BELOW_MIN_QTY = 108
    REJ_STALE_TIME = 109
    REJ_INSUFFICIENT_FUNDS = 201
    REJ_INSUFFICIENT_SHARES = 202
    REJ_CASH_LIMIT = 203
    REJ_TOO_MANY_ORDERS = 204
    REJ_FOK_NOT_FILLABLE = 301
    REJ_UNKNOWN_ORDER = 302
    REJ_POST_ONLY_WOULD_CROSS = 303
    REJ_MARKET_NOT_OPEN = 401
    REJ_INVALID_TRANSITION = 402
    REJ_INVALID_SETTLEMENT = 403

    # Order.flags bits (also in ACCEPTED.aux, shifted left by one)
    FLAG_POST_ONLY = 1
    FLAG_MARKET = 2


ctypedef struct Order:
    oid_t oid          # order id (0 while the slot is free)
    qty_t qty          # quantity still resting, shares
    int64_t expire_ts  # GTD expiry time (caller's unit), 0 for other tifs
    slot_t prev        # previous order in the level FIFO (-1 = head)
    slot_t next        # next order in the level FIFO, or next free slot
    slot_t uprev       # previous live order of the same user (-1 = first)
    slot_t unext       # next live order of the same user (-1 = last)
    uint32_t uid       # owner
    uint32_t mid       # market
    uint32_t client_id # caller's id for the order, unique per user among live ones (0 = none)
    pos_t pos          # owner's position record in this market
    price_t yprice     # limit price in YES terms, minor units
    uint8_t action     # SIDE_BUY / SIDE_SELL
    uint8_t outcome    # OUTCOME_YES / OUTCOME_NO
    uint8_t bside      # BOOK_BID / BOOK_ASK (derived from action and outcome)
    uint8_t tif        # TIF_GTC / TIF_GTD (only these rest)
    uint8_t stp        # self-trade mode it was placed with (reused by amend)
    uint8_t flags      # FLAG_POST_ONLY


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
    int32_t status     # MARKET_OPEN / HALTED / CLOSED / RESOLVED
    int32_t taker_fee  # basis points, 0..10000
    int32_t maker_fee  # basis points, -10000..10000 (negative = rebate)
    int32_t fee_mode   # FEE_BPS / FEE_CURVE
    int32_t cancel_on_halt  # 1: halt cancels every resting order
    price_t last_price # last trade price, YES terms (0 = none)
    price_t yes_value  # what a YES share paid at resolution (-1 = unresolved)
    qty_t min_qty      # smallest order quantity, shares
    qty_t outstanding  # YES+NO pairs in existence (= YES shares = NO shares)
    int64_t n_orders   # orders resting in this market
    Level* levels      # 2 * nlevels: bids at [0, n), asks at [n, 2n); index = price//tick - 1
    uint64_t* bits     # 2 * nwords: occupancy bitmaps, bids then asks


ctypedef struct Position:
    uint32_t uid       # owner
    uint32_t mid       # market
    qty_t avail[2]     # available shares by outcome (YES, NO)
    qty_t locked[2]    # shares locked by resting sells, by outcome


ctypedef struct User:
    amount_t avail     # available cash, minor units
    amount_t locked    # cash locked by resting buys (price and fee reserve), minor units
    slot_t head        # oldest live order (-1 = none)
    slot_t tail        # newest live order (-1 = none)
    int64_t n_orders   # live orders


# One event, 96 bytes.  The logical field order (EVENT_FIELDS, docs/semantics.md
# "Events") is not the memory order: the int64 fields come first so that every
# field is naturally aligned and the struct has no padding.  numpy's view of it
# (probo_engine.batch.EVENT_DTYPE) is built from EVENT_LAYOUT, which the module
# computes from this struct, so the two cannot drift apart.
ctypedef struct Event:
    int64_t seq        # global sequence number, from 1, no gaps
    int64_t ts         # the command's time
    int64_t oid
    int64_t qty
    int64_t user2      # maker uid (FILL), client id (ACCEPTED)
    int64_t oid2       # maker oid (FILL), expire_ts (ACCEPTED)
    int64_t aux
    int64_t fee
    int64_t fee2
    int32_t market
    int32_t user
    int32_t price
    int32_t price2
    int16_t kind       # EV_*
    int16_t side
    int16_t outcome
    int16_t code


# One command of a batch (numpy: probo_engine.batch.COMMAND_DTYPE).  Fields a
# kind does not use are ignored; probo_engine.batch.Batch writes each kind.
ctypedef struct CmdRec:
    int64_t kind       # CMD_*
    int64_t uid
    int64_t mid        # cancel_all: -1 for every market
    int64_t side
    int64_t outcome
    int64_t price      # limit price; amend: new price; resolve: yes_value
    int64_t qty        # place/amend/mint/merge qty; deposit/withdraw amount
    int64_t oid        # cancel/amend
    int64_t tif        # place: TIF_*; place_market: TIF_IOC or TIF_FOK
    int64_t stp
    int64_t ts
    int64_t post_only  # 0 or 1
    int64_t client_id
    int64_t expire_ts  # GTD only
    int64_t max_cost   # place_market buys: budget (0 = none)
    int64_t reserved   # 0


# Open-addressing hash table (linear probing, power-of-two capacity,
# backward-shift deletion).  Keys are never 0; 0 marks an empty bucket.
ctypedef struct IntMap:
    uint64_t* keys     # 0 = empty
    int32_t* vals      # slot or position index
    int64_t cap        # buckets (power of two)
    int64_t size       # live keys
    int32_t shift      # 64 - log2(cap), for Fibonacci hashing


# A pending GTD expiry; stale once its order is gone (checked when popped).
ctypedef struct Expiry:
    int64_t ts         # expire_ts of the order
    oid_t oid


# The incoming order while it matches (place, place_market, amend).
ctypedef struct Taker:
    int64_t uid
    int64_t mid
    oid_t oid
    pos_t pos
    int action
    int outcome
    int bside
    int tif
    int stp
    int flags
    price_t price      # own-outcome limit price
    price_t yprice     # YES limit price
    qty_t left         # quantity still to fill
    amount_t lump      # buys: cash locked for this order and not yet spent
    amount_t fee_unit  # per-share fee reserve if it rests
    bint budget        # a market buy whose lump is a max_cost budget
    bint stopped       # self-trade prevention stopped it


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
    cdef int64_t n_users
    cdef int64_t cap_users

    cdef Market* markets       # by market id
    cdef int64_t n_markets
    cdef int64_t cap_markets

    cdef Position* positions   # by position index
    cdef int64_t n_pos
    cdef int64_t cap_pos
    cdef IntMap pos_map        # (uid << 32 | mid) + 1 -> position index

    cdef Expiry* heap          # min-heap of pending GTD expiries by (ts, oid)
    cdef int64_t n_heap
    cdef int64_t cap_heap

    cdef Event* events         # events of the current command
    cdef int64_t n_events
    cdef int64_t cap_events

    cdef int64_t* touched      # (market, side, index) packed keys of levels changed
    cdef int64_t n_touched
    cdef int64_t cap_touched

    cdef seq_t seq             # last event sequence number issued
    cdef int64_t clock_ts      # highest ts seen (caller time units); a lower ts is refused
    cdef oid_t next_oid        # id the next accepted order gets
    cdef amount_t net_cash     # total deposited minus total withdrawn
    cdef amount_t fee_balance  # the fee account, minor units
    cdef qty_t max_qty         # largest order quantity
    cdef int64_t max_open      # live orders per user (0 = unlimited)
    cdef amount_t max_balance  # most cash a deposit may leave a user with (0 = unlimited)
    cdef int64_t max_levels    # most price levels per market
    cdef Event scratch         # written instead of an event when the buffer cannot grow
    cdef bint oom              # an event was lost to a failed allocation: engine unusable
    cdef bint record           # store events (batches may turn this off; seq still counts)
    cdef int busy              # a GIL-released section runs (BUSY_*): other threads refuse
    cdef unsigned long owner   # thread ident of the section while busy != 0
    cdef qty_t filled          # quantity the incoming order of the last command filled

    # C methods, all final: called directly, never through the vtable
    cdef inline Event* _ev(self, int64_t kind, int64_t ts) noexcept nogil
    cdef inline int _begin(self, int64_t* ts) except -1
    cdef inline int _end(self, int64_t r) except -1
    cdef inline int _guard(self) except -1
    cdef int _enter(self, int what) except -1
    cdef int _set_limits(self, max_qty, max_open_orders, max_balance,
                         max_levels) except -1
    cdef bytes _snapshot_bytes(self)
    cdef void _reject(self, int64_t cmd, int64_t code, int64_t mid, int64_t uid,
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
    cdef void _cancel_market(self, int64_t mid, int64_t reason, int64_t ts,
                             uint64_t* pairs) noexcept nogil
    cdef int _heap_push(self, int64_t ts, oid_t oid) noexcept nogil
    cdef void _heap_sift_down(self, int64_t i) noexcept nogil
    cdef int64_t _expire(self, int64_t ts) noexcept nogil
    cdef void _heap_compact(self) noexcept nogil
    cdef pos_t _pos_find(self, int64_t uid, int64_t mid) noexcept nogil
    cdef pos_t _pos_make(self, int64_t uid, int64_t mid) noexcept nogil
    cdef inline int _reserve_order(self, int tif, int64_t client_id) noexcept nogil
    cdef int _grow_arena(self) noexcept nogil
    cdef bint _crosses(self, Market* m, int bside, price_t yprice) noexcept nogil
    cdef qty_t _fillable(self, Market* m, Taker* t, qty_t need) noexcept nogil
    cdef inline void _match(self, Market* m, Taker* t, int64_t ts) noexcept nogil
    cdef inline bint _finish(self, Market* m, Taker* t, slot_t s, int64_t ts) noexcept nogil
    cdef int64_t _place(self, int64_t uid, int64_t mid, int action, int outcome,
                        int64_t price, int64_t qty, int tif, int stp, int64_t ts,
                        int flags, int64_t client_id, int64_t expire_ts,
                        int64_t max_cost) noexcept nogil
    cdef int64_t _amend(self, int64_t uid, int64_t oid, int64_t price, int64_t qty,
                        int64_t ts) noexcept nogil
    cdef int64_t _cancel(self, int64_t uid, int64_t oid, int64_t ts) noexcept nogil
    cdef int64_t _cancel_all(self, int64_t uid, int64_t mid, int64_t ts) noexcept nogil
    cdef int64_t _cash(self, int64_t uid, int64_t amount, bint deposit,
                       int64_t ts) noexcept nogil
    cdef int64_t _pair(self, int64_t uid, int64_t mid, int64_t qty, bint mint,
                       int64_t ts) noexcept nogil
    cdef int64_t _status(self, int64_t mid, int64_t cmd, int64_t yes_value,
                         int64_t ts) noexcept nogil
    cdef int64_t _dispatch(self, const CmdRec* c) noexcept nogil
    cdef int _load(self, const unsigned char[::1] view) except -1
    cdef int _check_user(self, int64_t uid) except -1
    cdef Market* _market(self, int64_t mid) except NULL
    cdef tuple _order_tuple(self, slot_t s, bint with_mid)
    cdef int _check(self, int64_t* lock_cash, int64_t* lock_sh, int64_t* held,
                    object fail) except -1
    cdef int _check_maps(self, unsigned char* mark, unsigned char* pmark,
                         object fail) except -1
    cdef int _check_books(self, const unsigned char* mark, int64_t* lock_cash,
                          int64_t* lock_sh, object fail) except -1
    cdef int _check_ledger(self, const unsigned char* pmark, int64_t* lock_cash,
                           int64_t* lock_sh, int64_t* held, object fail) except -1
