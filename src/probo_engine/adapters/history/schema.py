"""The history schema: tables, their columns and the SQL migrations.

One schema serves both stores.  The migrations are plain SQL that SQLite
(3.24 or later) and PostgreSQL (11 or later) both accept: ``BIGINT``,
``INTEGER``, ``SMALLINT``, ``TEXT`` and ``BYTEA`` (SQLite stores a ``BYTEA``
value as the blob it is given).  They are applied in order, each in its own
transaction, and recorded in ``schema_version``; a database whose version is
newer than :data:`SCHEMA_VERSION` is refused (:class:`SchemaVersionError`).

Every table but ``checkpoint`` and ``schema_version`` is insert-only and keyed
by what makes a row unique in the entry stream (an event sequence number, a
command sequence number, a user or market id), so writing the same batch twice
inserts nothing the second time (``ON CONFLICT DO NOTHING``).

Since version 2, ``order_updates`` and ``ledger`` are views: the rows the
archiver stores in ``order_changes`` and ``ledger_moves``, plus each order's
acceptance and its lock, derived from its ``orders`` row (see ``_V2``).

Conventions: ``seq`` is an event sequence number, ``cmd_seq`` the command
(entry) sequence number, ``ts`` the command's time stamp (integer
nanoseconds, as the runner stamps it), money in the market's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from probo_engine.errors import ProboError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "SchemaVersionError",
    "Table",
    "CASH",
    "YES",
    "NO",
    "FEE_ACCOUNT",
]

#: ``ledger.asset``: cash, YES shares, NO shares of ``ledger.mid``.
CASH, YES, NO = 0, 1, 2
#: ``ledger.uid`` of the engine's fee account (users are 0, 1, 2, ...).
FEE_ACCOUNT = -1


class SchemaVersionError(ProboError, RuntimeError):
    """The database's schema is newer than this library (or unreadable)."""


@dataclass(frozen=True)
class Table:
    """A table the archiver writes: its columns in row order, its key (what
    makes a row unique in the entry stream; the primary key is that key, or
    for ``ledger_moves`` that key led by ``uid``)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]


#: Tables the archiver writes, in the order a batch writes them.
TABLES: tuple[Table, ...] = (
    Table(
        "commands",
        (
            "seq",
            "ts",
            "type",
            "key",
            "command",
            "result",
            "first_event",
            "n_events",
        ),
        ("seq",),
    ),
    Table("users", ("uid", "name", "cmd_seq"), ("uid",)),
    Table(
        "markets",
        (
            "mid",
            "symbol",
            "payout",
            "tick",
            "taker_fee",
            "maker_fee",
            "fee_mode",
            "min_qty",
            "cancel_on_halt",
            "cmd_seq",
            "ts",
        ),
        ("mid",),
    ),
    Table(
        "market_status",
        ("seq", "cmd_seq", "ts", "mid", "status", "yes_value"),
        ("seq",),
    ),
    Table(
        "orders",
        (
            "oid",
            "seq",
            "cmd_seq",
            "ts",
            "mid",
            "uid",
            "side",
            "outcome",
            "price",
            "yes_price",
            "qty",
            "tif",
            "client_id",
            "expire_ts",
            "post_only",
            "is_market",
            "locked",
        ),
        ("oid",),
    ),
    Table(
        "order_changes",
        (
            "seq",
            "oid",
            "cmd_seq",
            "ts",
            "mid",
            "uid",
            "kind",
            "side",
            "outcome",
            "price",
            "yes_price",
            "qty",
            "remaining",
            "reason",
            "requeue",
            "d_locked",
        ),
        ("oid", "seq"),
    ),
    Table(
        "fills",
        (
            "seq",
            "cmd_seq",
            "ts",
            "mid",
            "kind",
            "yes_price",
            "qty",
            "taker_uid",
            "taker_oid",
            "taker_side",
            "taker_outcome",
            "taker_price",
            "taker_fee",
            "maker_uid",
            "maker_oid",
            "maker_side",
            "maker_outcome",
            "maker_price",
            "maker_fee",
            "maker_left",
        ),
        ("seq",),
    ),
    Table(
        "ledger_moves",
        (
            "seq",
            "idx",
            "cmd_seq",
            "ts",
            "uid",
            "mid",
            "asset",
            "d_available",
            "d_locked",
            "reason",
        ),
        ("seq", "idx"),
    ),
    Table(
        "rejects",
        (
            "seq",
            "cmd_seq",
            "ts",
            "mid",
            "uid",
            "command",
            "code",
            "oid",
            "price",
            "qty",
        ),
        ("seq",),
    ),
)

TABLE_BY_NAME = {t.name: t for t in TABLES}

_V1 = """
CREATE TABLE checkpoint (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    cmd_seq BIGINT NOT NULL,      -- last command (entry) seq archived
    event_seq BIGINT NOT NULL     -- last event seq archived
);
INSERT INTO checkpoint (id, cmd_seq, event_seq) VALUES (1, 0, 0);

-- one row per entry: the command record as the engine applied it
CREATE TABLE commands (
    seq BIGINT PRIMARY KEY,
    ts BIGINT,                    -- the command's ts field (NULL if it has none)
    type SMALLINT NOT NULL,       -- commands.spec_of(cmd).code
    key BYTEA NOT NULL,           -- idempotency key
    command BYTEA NOT NULL,       -- commands.encode() binary record
    result BIGINT NOT NULL,       -- what the engine returned
    first_event BIGINT NOT NULL,  -- seq of its first event (0: none)
    n_events INTEGER NOT NULL
);
CREATE INDEX commands_ts ON commands (ts);

CREATE TABLE users (
    uid BIGINT PRIMARY KEY,
    name TEXT,                    -- CreateUser.name (NULL: unnamed)
    cmd_seq BIGINT NOT NULL
);

CREATE TABLE markets (
    mid BIGINT PRIMARY KEY,
    symbol TEXT,                  -- CreateMarket.symbol (NULL: unnamed)
    payout BIGINT NOT NULL,
    tick BIGINT NOT NULL,
    taker_fee BIGINT NOT NULL,    -- basis points
    maker_fee BIGINT NOT NULL,    -- basis points, negative: rebate
    fee_mode SMALLINT NOT NULL,   -- FeeMode
    min_qty BIGINT NOT NULL,
    cancel_on_halt SMALLINT NOT NULL,
    cmd_seq BIGINT NOT NULL,
    ts BIGINT NOT NULL
);

-- every MARKET event: OPEN at creation, then each transition
CREATE TABLE market_status (
    seq BIGINT PRIMARY KEY,
    cmd_seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    mid BIGINT NOT NULL,
    status SMALLINT NOT NULL,     -- MarketStatus
    yes_value BIGINT NOT NULL     -- what a YES share paid (RESOLVED), else 0
);
CREATE INDEX market_status_mid ON market_status (mid, seq);

-- every accepted order, as accepted
CREATE TABLE orders (
    oid BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,          -- its ACCEPTED event
    cmd_seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    mid BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    side SMALLINT NOT NULL,       -- Side
    outcome SMALLINT NOT NULL,    -- Outcome
    price BIGINT NOT NULL,        -- own-outcome limit (market order: worst price)
    yes_price BIGINT NOT NULL,
    qty BIGINT NOT NULL,
    tif SMALLINT NOT NULL,        -- TimeInForce (market order: IOC or FOK)
    client_id BIGINT NOT NULL,
    expire_ts BIGINT NOT NULL,
    post_only SMALLINT NOT NULL,
    is_market SMALLINT NOT NULL
);
CREATE INDEX orders_uid ON orders (uid, oid);

-- every state change of an order: accepted (1), filled (3, as taker or
-- maker), canceled (4), amended (8); price/yes_price/remaining are after it
CREATE TABLE order_updates (
    seq BIGINT NOT NULL,
    oid BIGINT NOT NULL,
    cmd_seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    mid BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    kind SMALLINT NOT NULL,       -- EventKind
    side SMALLINT NOT NULL,
    outcome SMALLINT NOT NULL,
    price BIGINT NOT NULL,
    yes_price BIGINT NOT NULL,
    qty BIGINT NOT NULL,          -- accepted/amended: new qty; fill/cancel: how many
    remaining BIGINT NOT NULL,
    reason SMALLINT NOT NULL,     -- cancel: CancelReason; fill: FillKind;
                                  -- amend: 1 if priority kept
    requeue SMALLINT NOT NULL,    -- 1: (re)joined the back of its level here
    PRIMARY KEY (oid, seq)        -- (a FILL event updates two orders)
);
CREATE INDEX order_updates_mid ON order_updates (mid, seq);

-- every fill, both sides
CREATE TABLE fills (
    seq BIGINT PRIMARY KEY,
    cmd_seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    mid BIGINT NOT NULL,
    kind SMALLINT NOT NULL,       -- FillKind: transfer 0, mint 1, merge 2
    yes_price BIGINT NOT NULL,    -- the maker's YES price
    qty BIGINT NOT NULL,
    taker_uid BIGINT NOT NULL,
    taker_oid BIGINT NOT NULL,
    taker_side SMALLINT NOT NULL,
    taker_outcome SMALLINT NOT NULL,
    taker_price BIGINT NOT NULL,  -- in the taker's outcome terms
    taker_fee BIGINT NOT NULL,
    maker_uid BIGINT NOT NULL,
    maker_oid BIGINT NOT NULL,
    maker_side SMALLINT NOT NULL,
    maker_outcome SMALLINT NOT NULL,
    maker_price BIGINT NOT NULL,  -- in the maker's outcome terms
    maker_fee BIGINT NOT NULL,    -- negative: a rebate
    maker_left BIGINT NOT NULL
);
CREATE INDEX fills_mid_ts ON fills (mid, ts);
CREATE INDEX fills_taker ON fills (taker_uid, seq);
CREATE INDEX fills_maker ON fills (maker_uid, seq);

-- every cash and share movement; the sum of a user's rows up to any seq is
-- the balance at that seq (uid -1: the fee account)
CREATE TABLE ledger (
    seq BIGINT NOT NULL,
    idx SMALLINT NOT NULL,        -- movement number within the event
    cmd_seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    mid BIGINT NOT NULL,          -- -1 for cash
    asset SMALLINT NOT NULL,      -- 0 cash, 1 YES shares, 2 NO shares
    d_available BIGINT NOT NULL,
    d_locked BIGINT NOT NULL,
    reason SMALLINT NOT NULL,     -- EventKind of the event (0: lock settled)
    -- a row is (seq, idx); uid leads the key so that the one index also
    -- serves a user's balance history (a second index would double the cost
    -- of writing the largest table)
    PRIMARY KEY (uid, seq, idx)
);

-- every refused command
CREATE TABLE rejects (
    seq BIGINT PRIMARY KEY,
    cmd_seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    mid BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    command SMALLINT NOT NULL,    -- types.Command
    code SMALLINT NOT NULL,       -- RejectReason
    oid BIGINT NOT NULL,
    price BIGINT NOT NULL,
    qty BIGINT NOT NULL
);
"""

# Version 2: an order's acceptance is written once, in its ``orders`` row
# (new column ``locked``: what it locked, cash for a buy, shares for a sell),
# instead of three times (that row, an ``order_updates`` row and a ``ledger``
# row); a cancel or an amend once, in its ``order_changes`` row (new column
# ``d_locked``: the lock's change), instead of twice.  The tables the
# archiver writes lose about a quarter of their rows.  ``order_updates`` and
# ``ledger`` become views that give exactly the rows they had, so queries
# read them as before.  The book at a past point is read from ``orders (mid,
# seq)`` and each order's last change (``order_changes`` primary key), so
# ``order_changes`` needs no index by market.  ``commands`` loses its index
# on ``ts`` (one entry per command): the commands' ``ts`` never goes
# backwards, so ``book_at(ts=)`` finds its command by a binary search on the
# primary key instead.
_V2 = """
ALTER TABLE orders ADD COLUMN locked BIGINT NOT NULL DEFAULT 0;
UPDATE orders SET locked = COALESCE((SELECT l.d_locked FROM ledger l
    WHERE l.uid = orders.uid AND l.seq = orders.seq AND l.idx = 0
    AND l.reason = 1), 0);
DELETE FROM ledger WHERE reason = 1;
ALTER TABLE order_updates ADD COLUMN d_locked BIGINT NOT NULL DEFAULT 0;
UPDATE order_updates SET d_locked = COALESCE((SELECT l.d_locked FROM ledger l
    WHERE l.uid = order_updates.uid AND l.seq = order_updates.seq
    AND l.idx = 0 AND l.reason = order_updates.kind), 0)
    WHERE kind IN (4, 8);
DELETE FROM ledger WHERE reason IN (4, 8);
ALTER TABLE ledger RENAME TO ledger_moves;
DELETE FROM order_updates WHERE kind = 1;
DROP INDEX order_updates_mid;
ALTER TABLE order_updates RENAME TO order_changes;
CREATE INDEX orders_mid ON orders (mid, seq);
-- a user's cancels and amends that moved a lock: their ledger rows
CREATE INDEX order_changes_moved ON order_changes (uid, seq)
    WHERE kind = 8 OR d_locked <> 0;
DROP INDEX commands_ts;

-- every cash and share movement (as in version 1): the stored ones, the
-- lock of each accepted order, and what each cancel (4) or amend (8) moved
-- between available and locked (a cancel of an incoming buy's own
-- remainder moves nothing: it is settled with the buy's lump)
CREATE VIEW ledger AS
SELECT seq, idx, cmd_seq, ts, uid, mid, asset, d_available, d_locked, reason
FROM ledger_moves
UNION ALL
SELECT seq, 0, cmd_seq, ts, uid, CASE WHEN side = 0 THEN -1 ELSE mid END,
    CASE WHEN side = 0 THEN 0 WHEN outcome = 0 THEN 1 ELSE 2 END,
    -locked, locked, 1
FROM orders
UNION ALL
SELECT seq, 0, cmd_seq, ts, uid, CASE WHEN side = 0 THEN -1 ELSE mid END,
    CASE WHEN side = 0 THEN 0 WHEN outcome = 0 THEN 1 ELSE 2 END,
    -d_locked, d_locked, kind
FROM order_changes WHERE kind = 8 OR d_locked <> 0;

-- every state change of an order (as in version 1): the stored ones, and
-- each order's acceptance
CREATE VIEW order_updates AS
SELECT seq, oid, cmd_seq, ts, mid, uid, kind, side, outcome, price, yes_price,
    qty, remaining, reason, requeue
FROM order_changes
UNION ALL
SELECT seq, oid, cmd_seq, ts, mid, uid, 1, side, outcome, price, yes_price,
    qty, qty, 0, 1
FROM orders
"""

#: version -> SQL, applied in ascending order.  Never edit a released one:
#: add the next version.
MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2}
SCHEMA_VERSION = max(MIGRATIONS)

#: Created before anything else, in the migration runner's own transaction.
VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
)


def statements(sql: str) -> list[str]:
    """The statements of a migration (comments dropped, split on ``;``).

    The migrations contain no ``--`` or ``;`` inside literals, so this is exact.
    """
    lines = [ln.split("--", 1)[0].rstrip() for ln in sql.splitlines()]
    code = "\n".join(ln for ln in lines if ln.strip())
    return [s.strip() for s in code.split(";") if s.strip()]


def check_version(found: int) -> None:
    """Raise :class:`SchemaVersionError` if ``found`` is newer than we know."""
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the history database is at schema version {found}, newer than "
            f"this probo-engine knows ({SCHEMA_VERSION}): upgrade probo-engine, "
            "or point it at another database"
        )
