# cython: language_level=3
# The core's C types: typedefs, enums and structs, shared by every module of
# the core (_book and the modules beside it).  Nothing here has code.
#
# Units: prices and money are integer minor units (paise); quantities are
# whole shares; times are the caller's integer unit (ts), never read as
# wall-clock.  The exact semantics are in docs/semantics.md.
#
# The enum values are the single source of truth for every constant: the
# Python names (probo_engine.types, _book.CONSTANTS) are built from them at
# import (_layout.pyx) and tests/unit/test_constants.py checks types.py,
# commands.py and the reference model against that table.

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
    STP_NONE = 3           # no prevention: own orders match like anyone else's

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
    CMD_CANCEL_CLIENT = 15  # cancel by (uid, client id)
    CMD_CREATE_USER = 32   # journal records only (commands.py)
    CMD_CREATE_MARKET = 33  # journal records only (commands.py)

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
    uint32_t client_id  # caller's id, unique per user among live orders (0 = none)
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
    price_t last_price  # last trade price, YES terms (0 = none)
    price_t yes_value  # what a YES share paid at resolution (-1 = unresolved)
    qty_t min_qty      # smallest order quantity, shares
    qty_t outstanding  # YES+NO pairs in existence (= YES shares = NO shares)
    int64_t n_orders   # orders resting in this market
    Level* levels      # 2 * nlevels: bids [0, n), asks [n, 2n); index = price//tick - 1
    uint64_t* bits     # 2 * nwords: occupancy bitmaps, bids then asks


ctypedef struct Position:
    uint32_t uid       # owner
    uint32_t mid       # market
    qty_t avail[2]     # available shares by outcome (YES, NO)
    qty_t locked[2]    # shares locked by resting sells, by outcome


ctypedef struct User:
    amount_t avail     # available cash, minor units
    amount_t locked    # cash locked by resting buys (price + fee reserve), minor units
    slot_t head        # oldest live order (-1 = none)
    slot_t tail        # newest live order (-1 = none)
    int64_t n_orders   # live orders


# One event, 96 bytes.  The logical field order (EVENT_FIELDS, docs/semantics.md
# "Events") is not the memory order: the int64 fields come first so that every
# field is naturally aligned and the struct has no padding.  numpy's view of it
# (probo_engine.batch.EVENT_DTYPE) is built from EVENT_LAYOUT, which the module
# computes from this struct, so the two cannot drift apart.
ctypedef struct Event:
    # Per-kind meaning of every field: docs/semantics.md, "Events" (table).
    int64_t seq        # global sequence number, from 1, no gaps
    int64_t ts         # the command's time (caller units)
    int64_t oid        # order id (ACCEPTED, FILL taker, CANCELED, AMENDED)
    int64_t qty        # shares, or cash in minor units (CASH)
    int64_t user2      # maker uid (FILL), client id (ACCEPTED)
    int64_t oid2       # maker oid (FILL), expire_ts (ACCEPTED)
    int64_t aux        # kind-specific: maker qty left, book side, balance after
    int64_t fee        # taker fee (FILL), minor units
    int64_t fee2       # maker fee (FILL), minor units, negative = rebate
    int32_t market     # market id
    int32_t user       # user id (taker's for FILL)
    int32_t price      # minor units: YES or own price by kind (see the table)
    int32_t price2     # minor units: the second price by kind (see the table)
    int16_t kind       # EV_*
    int16_t side       # SIDE_* (action) or BOOK_* (LEVEL)
    int16_t outcome    # OUTCOME_*
    int16_t code       # REJ_* / FILL_* / CANCEL_* / MARKET_* / tif, by kind


# One command of a batch (numpy: probo_engine.batch.COMMAND_DTYPE).  Fields a
# kind does not use are ignored; probo_engine.batch.Batch writes each kind.
ctypedef struct CmdRec:
    int64_t kind       # CMD_*
    int64_t uid        # user id
    int64_t mid        # market id; cancel_all: -1 for every market
    int64_t side       # SIDE_*
    int64_t outcome    # OUTCOME_*
    int64_t price      # limit price; amend: new price; resolve: yes_value
    int64_t qty        # place/amend/mint/merge qty; deposit/withdraw amount
    int64_t oid        # cancel/amend
    int64_t tif        # place: TIF_*; place_market: TIF_IOC or TIF_FOK
    int64_t stp        # STP_*
    int64_t ts         # the command's time (caller units)
    int64_t post_only  # 0 or 1
    int64_t client_id  # place: 0 = none; cancel_client: the order's client id
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
    oid_t oid          # the order (compared with the arena when popped)


# The incoming order while it matches (place, place_market, amend).
ctypedef struct Taker:
    int64_t uid        # owner
    int64_t mid        # market
    oid_t oid          # its order id (assigned before matching)
    pos_t pos          # owner's position record in this market (-1 = none yet)
    int action         # SIDE_BUY / SIDE_SELL
    int outcome        # OUTCOME_YES / OUTCOME_NO
    int bside          # BOOK_BID / BOOK_ASK it would rest on
    int tif            # TIF_*
    int stp            # STP_* self-trade mode
    int flags          # FLAG_POST_ONLY / FLAG_MARKET
    price_t price      # own-outcome limit price, minor units
    price_t yprice     # YES limit price, minor units
    qty_t left         # quantity still to fill, shares
    amount_t lump      # buys: cash locked for this order and not yet spent, minor units
    amount_t fee_unit  # per-share fee reserve if it rests, minor units
    bint budget        # a market buy whose lump is a max_cost budget
    bint stopped       # self-trade prevention stopped it


# What holds a Core while it runs with the GIL released (Core.busy); see
# _args.pyx's _raise_busy.
cdef enum:
    BUSY_NONE = 0
    BUSY_BATCH = 1          # Core.run_batch
    BUSY_SNAPSHOT = 2       # Core.snapshot (_snapshot.dump)
    BUSY_DEPTH = 3          # Core.depth_into
