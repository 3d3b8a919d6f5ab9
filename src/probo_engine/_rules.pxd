# cython: language_level=3
# The command-misuse rules: the ONE statement of what makes a place or
# place_market command malformed (as opposed to refused by the engine with a
# result code).  Three callers apply them and must agree exactly:
#
# * Core.place / Core.place_market (per call): raise TypeError/ValueError,
#   using the single predicates below for their messages;
# * cmd_ok below (run_batch, via _args._check_records): refuses the whole
#   batch before running it;
# * _replay._decode (journal replay in C): hands the record to the Python
#   path, which raises as the per-call method does.
#
# All inline and GIL-free: the batch and replay loops call them per record.

from libc.stdint cimport int64_t

from probo_engine._types cimport (
    CMD_CANCEL_CLIENT,
    CMD_PLACE,
    CMD_PLACE_MARKET,
    OUTCOME_NO,
    SIDE_SELL,
    STP_NONE,
    TIF_FOK,
    TIF_GTC,
    TIF_GTD,
    TIF_IOC,
    CmdRec,
)


cdef inline bint in_range(int64_t v, int64_t hi) noexcept nogil:
    # an enum argument: 0..hi
    return 0 <= v <= hi


cdef inline bint client_id_ok(int64_t v) noexcept nogil:
    # a client id fits uint32 (0 = none)
    return 0 <= v <= <int64_t>0xFFFFFFFF


cdef inline bint post_only_ok(bint post_only, int64_t tif) noexcept nogil:
    # post-only orders rest or nothing: GTC or GTD only
    return not post_only or tif == TIF_GTC or tif == TIF_GTD


cdef inline bint expiry_ok(int64_t tif, int64_t expire_ts) noexcept nogil:
    # expire_ts is required for GTD and only allowed with GTD
    return (tif == TIF_GTD) == (expire_ts != 0)


cdef inline bint max_cost_ok(int64_t max_cost, int64_t side) noexcept nogil:
    # a market order's budget: >= 0, and 0 (none) for a sell
    return max_cost >= 0 and not (max_cost > 0 and side == SIDE_SELL)


cdef inline bint order_args_ok(const CmdRec* c) noexcept nogil:
    # what place and place_market share: enums in range, a uint32 client id
    return (in_range(c.side, SIDE_SELL) and in_range(c.outcome, OUTCOME_NO)
            and in_range(c.stp, STP_NONE) and client_id_ok(c.client_id))


cdef inline bint place_ok(const CmdRec* c) noexcept nogil:
    # a CMD_PLACE record the per-call Core.place would accept
    return (order_args_ok(c) and in_range(c.tif, TIF_GTD) and c.max_cost == 0
            and in_range(c.post_only, 1) and post_only_ok(c.post_only, c.tif)
            and expiry_ok(c.tif, c.expire_ts))


cdef inline bint place_market_ok(const CmdRec* c) noexcept nogil:
    # a CMD_PLACE_MARKET record the per-call Core.place_market would accept
    return (order_args_ok(c) and (c.tif == TIF_IOC or c.tif == TIF_FOK)
            and c.post_only == 0 and c.expire_ts == 0
            and max_cost_ok(c.max_cost, c.side))


cdef inline bint cmd_ok(const CmdRec* c) noexcept nogil:
    # a command record of any kind that its per-call method would accept
    cdef int64_t k = c.kind
    if k < CMD_PLACE or k > CMD_CANCEL_CLIENT or c.reserved != 0:
        return False
    if k == CMD_PLACE:
        return place_ok(c)
    if k == CMD_PLACE_MARKET:
        return place_market_ok(c)
    if k == CMD_CANCEL_CLIENT:
        return client_id_ok(c.client_id)
    return True
