"""Results computed from the database, kept while the data they read has not changed.

The costing, the coherence and the scorecard are pure functions of committed rows: a page that
asks for the same one twice, or thirty people reading the same pages, need not compute it again.
:func:`remember` keeps a result at two levels, both keyed by what the caller says the result
depends on (organisation, year, period, scope…):

- **In the session** (``session.info``): a session is one request, one command or one job, so a
  result is computed at most once per request. Any write through the session (a flush with
  changes, an ORM ``INSERT``/``UPDATE``/``DELETE``) and the end of its transaction forget it: a
  read after a write sees the write.
- **In the process**, for read sessions bound to an engine (a page's GET, :func:`pilotis.web.reading`),
  which write nothing, under a version of the database's committed data read in the session's own
  transaction:

  - PostgreSQL: the transaction snapshot, ``pg_current_snapshot()``. Two equal snapshots see
    exactly the same committed transactions (a commit anywhere on the server changes it);
  - SQLite: a generation of this process, advanced when a connection's ``PRAGMA data_version``
    shows that another connection (of this process or any other) committed since that
    connection last looked, and for the connection that committed itself (SQLite does not change
    its own ``data_version``).

  A write session (POST, the command line, jobs, tests' sessions joined to an outer transaction)
  never reads or fills the process cache: what it sees may include its own uncommitted writes.

Results are shared between requests and threads: callers give :func:`remember` a ``copy``
function when what they return may be changed by their callers (DataFrames, lists).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import ORMExecuteState, Session

T = TypeVar("T")

#: Results kept by the process (the oldest used goes first); one version of each computation.
MAX_ENTRIES = 64
_MEMO = "pilotis.cache.memo"
_WROTE = "pilotis.cache.wrote"
_SEEN = "pilotis.cache.data_version"
#: The execution option that marks a writing engine (``pilotis.database.WRITE_OPTION``: services
#: do not import the shell; a test checks that the two agree).
WRITE_OPTION = "pilotis_write"

_lock = threading.Lock()
_shared: OrderedDict[tuple[Hashable, tuple[Hashable, ...]], Any] = OrderedDict()
#: The version kept of each computation: a newer one replaces it (an older is never read again).
_latest: dict[tuple[Hashable, ...], tuple[Hashable, tuple[Hashable, ...]]] = {}
_generation = 0
#: Computations under way, so that thirty requests arriving together compute a result once.
_pending: dict[Hashable, threading.Event] = {}
#: Computations done since the process started, by the first element of their key (for tests
#: and benchmarks: « one costing per request at most »).
computed: dict[Hashable, int] = {}


def clear() -> None:
    """Forget every result kept by the process (tests, benchmarks)."""
    with _lock:
        _shared.clear()
        _latest.clear()


def remember(
    session: Session,
    key: tuple[Hashable, ...],
    compute: Callable[[], T],
    *,
    copy: Callable[[T], T] | None = None,
) -> T:
    """``compute()``, or the result kept for ``key`` while the data it read is unchanged.

    ``key`` names the computation and everything it depends on besides the database's rows
    (e.g. ``("costing", organisation_id, year, basis)``). ``copy`` is applied to a kept result
    before it is returned, so that a caller changing it does not change it for the others.
    Exceptions are not kept.
    """
    memo: dict[Hashable, Any] = session.info.setdefault(_MEMO, {})
    if key in memo:
        kept: T = memo[key]
        return _copied(kept, copy)
    version = _version(session)
    result = _count(key, compute) if version is None else _shared_result((version, key), key, compute)
    session.info.setdefault(_MEMO, {})[key] = result  # a flush during compute() reset the memo
    return _copied(result, copy)


def _shared_result(
    shared_key: tuple[Hashable, tuple[Hashable, ...]], key: tuple[Hashable, ...], compute: Callable[[], T]
) -> T:
    """The process's result for ``shared_key``, computed by one thread when missing."""
    while True:
        with _lock:
            if shared_key in _shared:
                _shared.move_to_end(shared_key)
                kept: T = _shared[shared_key]
                return kept
            waiting = _pending.get(shared_key)
            mine = waiting is None
            if waiting is None:
                waiting = _pending[shared_key] = threading.Event()
        if not mine:
            waiting.wait(60)  # then found, or computed here if that computation failed
            continue
        try:
            result = _count(key, compute)
            with _lock:
                replaced = _latest.get(key)
                if replaced is not None and replaced != shared_key:
                    _shared.pop(replaced, None)
                _latest[key] = shared_key
                _shared[shared_key] = result
                while len(_shared) > MAX_ENTRIES:
                    oldest, _ = _shared.popitem(last=False)
                    if _latest.get(oldest[1]) == oldest:
                        del _latest[oldest[1]]
            return result
        finally:
            with _lock:
                _pending.pop(shared_key, None)
            waiting.set()


def _copied(result: T, copy: Callable[[T], T] | None) -> T:
    return copy(result) if copy is not None else result


def _count(key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
    result = compute()
    with _lock:
        computed[key[0]] = computed.get(key[0], 0) + 1
    return result


def _version(session: Session) -> Hashable | None:
    """The version of the committed data this session reads, or None when it must not share."""
    bind = session.bind
    if not isinstance(bind, Engine) or bind.get_execution_options().get(WRITE_OPTION, False):
        return None  # a write session, or one joined to a connection's outer transaction
    if session.info.get(_WROTE):
        return None
    connection = session.connection()
    name = connection.dialect.name
    database = bind.url.render_as_string(hide_password=True)
    if name == "postgresql":
        snapshot, own = connection.exec_driver_sql(
            "SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text"
        ).one()
        return None if own is not None else (database, str(snapshot))
    if name == "sqlite":
        global _generation
        data_version = connection.exec_driver_sql("PRAGMA data_version").scalar()
        info = connection.connection.info
        with _lock:
            if info.get(_SEEN) != data_version:
                info[_SEEN] = data_version
                _generation += 1
            return (database, _generation)
    return None


# -- what forgets ------------------------------------------------------------------------------------
def _forget(session: Session) -> None:
    session.info.pop(_MEMO, None)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True
    _forget(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True
        _forget(state.session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the session's outermost transaction: a new one sees new rows
        session.info.pop(_WROTE, None)
        _forget(session)


@event.listens_for(Engine, "commit")
def _on_commit(connection: Connection) -> None:
    # SQLite keeps a connection's data_version when that connection itself commits: make its next
    # look count as a change (the other connections see one through their data_version)
    connection.connection.info.pop(_SEEN, None)
