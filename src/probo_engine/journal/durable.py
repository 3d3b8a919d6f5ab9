"""The :class:`DurableEngine` facade: an engine whose commands go through the
journal (writer, snapshots and recovery are in the sibling modules)."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from probo_engine._progress import ProgressBar
from probo_engine.commands import (
    COMMANDS,
    FORMAT_VERSION,
    CommandRecord,
    call,
    encode,
    spec_for_class,
)
from probo_engine.engine import Engine
from probo_engine.errors import JournalError, SnapshotError
from probo_engine.journal.files import list_dir, lock, quarantine
from probo_engine.journal.format import JOURNAL_FORMAT
from probo_engine.journal.recovery import RecoveryInfo, recover, stored_engine_options
from probo_engine.journal.replay import ProgressCallback
from probo_engine.journal.snapshots import read_snapshot, write_snapshot
from probo_engine.journal.writer import SyncPolicy, Writer
from probo_engine.readonly import EngineView

if TYPE_CHECKING:
    from probo_engine.journal.groupcommit import GroupCommit

__all__ = ["DurableEngine", "replay_progress_bar"]


def replay_progress_bar() -> ProgressBar:
    """The bar ``progress=True`` draws on stderr while recovery replays."""
    return ProgressBar(
        label="replaying journal",
        unit="bytes",
        count_unit="commands",
        interval=0.2,
    )


def _refuse(cmd: CommandRecord) -> NoReturn:
    """Raise the error of the field of ``cmd`` its record cannot encode."""
    encode(cmd)  # raises TypeError/ValueError naming the field
    raise TypeError(f"cannot encode {cmd!r}")  # pragma: no cover - encode raised


class DurableEngine:
    """An :class:`~probo_engine.Engine` whose commands go through a journal.

    Create or recover one with :meth:`open`; use it as a context manager or
    call :meth:`close`.  Query the state through :attr:`engine`; change it only
    through :meth:`execute`, or the change is not journaled.

    >>> import tempfile
    >>> from probo_engine.commands import CreateMarket, CreateUser, Deposit
    >>> d = tempfile.mkdtemp()
    >>> with DurableEngine.open(d, policy="fsync") as db:
    ...     db.execute(CreateMarket()), db.execute(CreateUser())
    ...     db.execute(Deposit(0, 5000)), db.acked_seq
    (0, 0)
    (0, 3)
    >>> with DurableEngine.open(d) as db:
    ...     db.engine.balance(0), db.appended_seq
    ((5000, 0), 3)
    """

    _engine: Any
    _writer: Writer
    _dir: Path
    _lock_fd: int
    _keep: int
    _snapshot_seq: int
    _closed: bool
    _view: EngineView
    _gc: GroupCommit | None
    _never_sync: bool  #: policy "none"
    _sync_in_loop: bool  #: execute_async syncs in the loop's thread
    _direct: dict[type, tuple[Callable[..., Any], Callable[..., bytes], int]]
    recovery: RecoveryInfo  #: what the last :meth:`open` found and did

    def __init__(self, *_: object, **__: object) -> None:
        raise TypeError("use DurableEngine.open(directory)")

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        policy: SyncPolicy | str = SyncPolicy.GROUP,
        group_records: int = 256,
        group_ms: float = 2.0,
        segment_bytes: int = 64 << 20,
        keep_snapshots: int = 2,
        engine_cls: type = Engine,
        engine_options: dict[str, int] | None = None,
        progress: bool | ProgressCallback | None = None,
        on_durable: Callable[[int], None] | None = None,
        sync_in_loop: bool = False,
    ) -> DurableEngine:
        """Open (creating if needed) a data directory and recover its state.

        Parameters
        ----------
        directory : path
            The data directory; created if missing.
        policy : {"group", "fsync", "none"}
            See the module docstring.
        group_records, group_ms : int, float
            Group commit triggers: sync once this many records are pending, or
            once the oldest pending one is this old (checked on each append and
            by :meth:`poll`).
        segment_bytes : int
            Start a new segment once the current one reaches this size.
        keep_snapshots : int
            Snapshot files to keep (>= 1).  Once there are that many, older
            snapshots and the journal segments older than the oldest kept one
            are deleted; a damaged newest snapshot then falls back on an older
            one (the default 2 keeps one spare).
        engine_cls : type
            The engine class (``Engine`` by default; anything with the Core
            methods).  Snapshots are used only if it has ``restore``.
        engine_options : dict, optional
            Keyword arguments for ``engine_cls`` (the core's limits:
            ``max_qty``, ``max_open_orders``, ``max_balance``, ``max_levels``;
            ``Engine``'s ``self_trade`` too, although a ``Place`` record
            always carries its own ``stp``).
            They shape results, so they are stored in the directory
            (``engine.json``) when it is created and reused on every open;
            passing different ones for an existing directory raises
            ``ValueError``.
        progress : bool or callable, optional
            ``True`` draws a progress line on stderr during replay; a callable
            gets ``(bytes_done, bytes_total, commands_replayed)``.
        on_durable : callable, optional
            Called with the new ``acked_seq`` whenever the journal syncs.
        sync_in_loop : bool
            :meth:`execute_async` only: run each group commit's
            ``fdatasync`` in the event loop's own thread, blocking the loop
            for the sync, instead of in the sync thread (which lets the loop
            run meanwhile but costs two thread wake-ups per sync).  For a
            loop that serves nothing but durable commands; the guarantee is
            the same.

        Raises
        ------
        JournalCorruptError
            Damage a crash cannot explain (names the file and offset).
        JournalError
            The directory is in use by another :class:`DurableEngine`.
        """
        policy = SyncPolicy(policy)
        if min(group_records, segment_bytes, keep_snapshots) < 1 or group_ms < 0:
            raise ValueError(
                "group_records, segment_bytes and keep_snapshots must be >= 1, "
                "group_ms >= 0"
            )
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
            lock_fd = lock(d)
        except OSError as exc:
            raise JournalError(f"cannot open {d}: {exc}") from exc
        try:
            if progress is True:
                progress = replay_progress_bar()
            options = stored_engine_options(d, engine_options)
            engine, info, segment = recover(
                d,
                lambda: engine_cls(**options),
                getattr(engine_cls, "restore", None),
                progress or None,
            )
            writer = Writer(
                d,
                info.last_seq + 1,
                segment,
                policy=policy,
                group_records=group_records,
                group_ms=group_ms,
                segment_bytes=segment_bytes,
                on_durable=on_durable,
            )
        except OSError as exc:
            os.close(lock_fd)
            raise JournalError(f"cannot open {d}: {exc}") from exc
        except BaseException:
            os.close(lock_fd)
            raise
        self = object.__new__(cls)
        self._engine = engine
        self._writer = writer
        self._dir = d
        self._lock_fd = lock_fd
        self._keep = keep_snapshots
        self._snapshot_seq = info.snapshot_seq
        self._closed = False
        self._view = EngineView(engine)
        self._gc = None
        self._sync_in_loop = bool(sync_in_loop)
        # Per record class without names: the bound engine method, the
        # encoder and the type code (what _apply would look up each time).
        self._direct = {
            spec.cls: (getattr(engine, spec.method), spec.struct.pack, spec.code)
            for spec in COMMANDS.values()
            if not spec.names
        }
        self._never_sync = policy is SyncPolicy.NONE
        self.recovery = info
        return self

    # ------------------------------------------------------------ commands

    def execute(self, cmd: CommandRecord) -> Any:
        """Apply a command record to the engine and append it to the journal.

        Returns the engine method's result (a new id, an oid, a count, 0, or
        ``-code`` for a refusal).  The command is durable once :attr:`acked_seq` reaches
        :attr:`appended_seq` as it is on return.

        Raises
        ------
        TypeError, ValueError, OverflowError
            Misuse the engine refuses (a non-integer field, e.g. a user name
            where the record holds an id; an enum out of range, a bad market
            grid): nothing is applied or journaled.
        JournalError
            The journal is closed or has failed.
        """
        result, payload = self._apply(cmd)
        writer = self._writer
        try:
            writer.append(payload)
        except BaseException as exc:
            # The engine is now ahead of the journal: refuse further use.
            if writer.failed is None:
                writer.failed = exc
            raise
        return result

    def execute_durable(self, cmd: CommandRecord) -> Any:
        """:meth:`execute`, returning only once the command is on disk.

        Whatever the policy (except ``"none"``, which never syncs), the
        journal is synced before this returns, so the result may be
        acknowledged at once.  Each call costs a sync; many concurrent
        callers share syncs through :meth:`execute_async`.
        """
        result, payload = self._apply(cmd)
        writer = self._writer
        try:
            seq = writer.append(payload)
            if writer.acked < seq:
                writer.commit()
        except BaseException as exc:
            if writer.failed is None:
                writer.failed = exc
            raise
        return result

    async def execute_async(self, cmd: CommandRecord) -> Any:
        """Apply ``cmd`` and return its result once it is on disk.

        For asyncio servers: the ``await`` returns only after the journal
        holding the command is synced, so the result may be acknowledged at
        once.  Concurrent callers in one event loop share syncs (group
        commit): while one ``fdatasync`` runs in this DurableEngine's sync
        thread (started by the first call in an event loop, ended by
        :meth:`close`), the commands that arrive are applied and buffered, and
        the next sync covers them all (:mod:`probo_engine.journal.groupcommit`;
        with ``open(..., sync_in_loop=True)`` the sync blocks the loop instead).  The
        command is applied to the engine at once, in call order, whatever the
        policy; under policy ``"none"`` nothing waits.  A caller cancelled
        while waiting does not unapply its command: it becomes durable with
        the sync that covers it.

        Raises as :meth:`execute` does; ``JournalError`` if the sync fails
        (the DurableEngine then refuses further commands).
        """
        writer = self._writer
        direct = self._direct.get(type(cmd))
        if direct is not None and writer.failed is None and not self._closed:
            # _apply's first branch, inlined: this is the hot path.
            method, pack, code = direct
            try:
                payload = pack(FORMAT_VERSION, code, *cmd)
            except struct.error:
                _refuse(cmd)
            result = method(*cmd)
        else:
            result, payload = self._apply(cmd)
        try:
            if self._never_sync:
                writer.append(payload)
                return result
            seq = writer.append_buffered(payload)
        except BaseException as exc:
            if writer.failed is None:
                writer.failed = exc
            raise
        if writer.acked < seq:
            gc = self._gc
            if gc is None or gc.running_loop() is not gc.loop:
                gc = self._group_commit()  # first use, or a new event loop
            await gc.wait(seq)
        return result

    def _group_commit(self) -> GroupCommit:
        import asyncio  # here: ``import probo_engine`` stays free of asyncio

        from probo_engine.journal.groupcommit import GroupCommit

        loop = asyncio.get_running_loop()
        gc = self._gc
        if gc is not None and gc.loop is not loop and gc.loop.is_running():
            raise RuntimeError("execute_async is in use in another event loop")
        if gc is None or gc.loop is not loop:
            # A loop that has stopped took its waiters with it; anything they
            # appended is synced by the next sync here or by close().
            if gc is not None:
                gc.stop()
            gc = self._gc = GroupCommit(self._writer, loop, in_loop=self._sync_in_loop)
        return gc

    def _apply(self, cmd: CommandRecord) -> tuple[Any, bytes]:
        """Apply a command to the engine; return its result and its record."""
        direct = self._direct.get(type(cmd))
        if direct is not None:
            if self._writer.failed is not None or self._closed:
                raise JournalError("this DurableEngine is closed or has failed")
            # As below: encoded first (so every field is an int64 or a bool:
            # a user name in ``uid`` is refused, not applied and then left
            # out of the journal), then applied.
            method, pack, code = direct
            try:
                payload = pack(FORMAT_VERSION, code, *cmd)
            except struct.error:
                _refuse(cmd)
            return method(*cmd), payload
        spec = spec_for_class(type(cmd))
        if spec is None:
            raise TypeError(f"not a command record: {cmd!r}")
        writer = self._writer
        if writer.failed is not None or self._closed:
            raise JournalError("this DurableEngine is closed or has failed")
        if spec.names:
            # Names are checked by encoding them first (then, as below, the
            # engine validates everything before it changes anything).
            payload = encode(cmd)
            result = call(getattr(self._engine, spec.method), spec, cmd)
        else:
            # Encoded first: every field fits the record (the Engine would
            # also take a name for an id, which the record cannot hold).  The
            # core then validates every argument before it changes anything,
            # so misuse is never journaled.
            payload = encode(cmd)
            result = getattr(self._engine, spec.method)(*cmd)
        return result, payload

    @property
    def engine(self) -> EngineView:
        """The engine's queries: a read-only :class:`~probo_engine.readonly.EngineView`.

        Every change goes through :meth:`execute` (and so the journal); the
        view refuses the engine's commands with ``AttributeError``.
        """
        return self._view

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def policy(self) -> SyncPolicy:
        return self._writer.policy

    @property
    def appended_seq(self) -> int:
        """Sequence number of the last command executed (journaled, maybe unsynced)."""
        return self._writer.seq

    @property
    def acked_seq(self) -> int:
        """Every command up to this sequence number is durable (acknowledged)."""
        return self._writer.acked

    @property
    def snapshot_seq(self) -> int:
        """Command seq of the newest durable snapshot (0 if none)."""
        return self._snapshot_seq

    def sync_due_in(self) -> float | None:
        """Seconds until group commit wants a :meth:`poll` (None: nothing pending)."""
        return self._writer.due_in()

    def poll(self) -> int:
        """Sync if the group-commit deadline has passed; return :attr:`acked_seq`."""
        return self._writer.poll()

    def sync(self) -> int:
        """Write and sync everything appended now; return :attr:`acked_seq`."""
        self._check_open()
        self._writer.commit(force_sync=True)
        return self._writer.acked

    def snapshot(self) -> int | None:
        """Write a snapshot of the current state; return its command seq.

        Syncs the journal first, writes the snapshot atomically, starts a new
        journal segment, then deletes snapshots beyond ``keep_snapshots`` and
        the segments older than the oldest snapshot kept.  Returns ``None``
        (and writes nothing) when the engine has no ``snapshot``/``restore``.
        """
        self._check_open()
        take = getattr(self._engine, "snapshot", None)
        if not callable(take) or not callable(
            getattr(type(self._engine), "restore", None)
        ):
            return None
        w = self._writer
        w.commit(force_sync=True)
        seq = w.seq
        if (
            seq == self._snapshot_seq
            and (self._dir / JOURNAL_FORMAT.snapshot_name(seq)).exists()
        ):
            return seq
        write_snapshot(self._dir, seq, take())
        self._snapshot_seq = seq
        w.rotate()
        self._prune()
        return seq

    def _prune(self) -> None:
        segments, snapshots = list_dir(self._dir)
        # Only sound snapshots count: the spares are read back and checked
        # (the newest was just written and synced); a damaged one is
        # quarantined, so it is never counted and the journal it would have
        # replaced stays.
        for seq, path in snapshots[-self._keep : -1]:
            try:
                read_snapshot(path, seq)
            except (SnapshotError, OSError) as exc:
                quarantine(path, str(exc))
        segments, snapshots = list_dir(self._dir)
        if len(snapshots) < self._keep:
            return  # the journal from seq 1 stands in for the missing ones
        oldest = snapshots[-self._keep][0]
        for i in range(len(segments) - 1):
            if segments[i + 1][0] <= oldest + 1:
                segments[i][1].unlink()
        for _seq, path in snapshots[: -self._keep]:
            path.unlink()

    # ------------------------------------------------------------ lifetime

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("this DurableEngine is closed")

    def close(self) -> None:
        """Sync, close the journal and release the directory lock."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
            if self._gc is not None:
                self._gc.release_all()  # closing synced everything
                self._gc.stop()
        finally:
            os.close(self._lock_fd)

    async def aclose(self) -> None:
        """:meth:`close` after the sync in flight (if any) has finished."""
        if self._gc is not None:
            await self._gc.drain()
        self.close()

    def __enter__(self) -> DurableEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> DurableEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<DurableEngine {str(self._dir)!r} policy={self.policy.value} "
            f"appended={self.appended_seq} acked={self.acked_seq}>"
        )
