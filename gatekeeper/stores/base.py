"""The state-store contracts: one small Protocol per concern, implemented by every backend.

Backends are chosen by URL scheme (``sqlite:///PATH``, ``dynamodb://PREFIX?region=R``,
``postgresql://...``) through the explicit map in ``gatekeeper.stores.open_store``; each is imported
only when used. ``SQLDatabase`` is what the SQL stores (``stores.sql*``) need of a database, so that
one implementation serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from gatekeeper.model import CustomerProfile

if TYPE_CHECKING:
    # Only in annotations: the workflow models (pydantic) are imported when a case is opened, not
    # by every store at import (a Lambda's first allowed decision opens a store and no case).
    from gatekeeper.stores.screening_base import ScreeningStore
    from gatekeeper.workflow.model import Case, CaseChange, CaseRequest, Licence

# What ``LicenceStore.refund`` did.
Refund = Literal["refunded", "already", "refused"]


@runtime_checkable
class ProfileStore(Protocol):
    """Customer profiles keyed by (provider, account id)."""

    def get_profile(self, provider: str, account_id: str) -> CustomerProfile | None:
        """The profile, with its screening hits; None when the account is not known."""
        ...

    def put_profiles(self, profiles: Sequence[CustomerProfile]) -> None:
        """Insert or replace all of them in one transaction: all or nothing."""
        ...

    def list_profiles(self, provider: str | None = None) -> list[CustomerProfile]:
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class CaseStore(Protocol):
    """Cases of the permission workflow.

    # INVARIANT: at most one case per ``scope_key`` is open at any time, also with many writers
    # (threads, processes, machines): ``open_or_join`` is atomic with respect to itself and to ``apply``.
    """

    def open_or_join(self, case: Case, request: CaseRequest) -> tuple[Case, bool]:
        """Add ``request`` to the open case for ``case.scope_key``, or open ``case`` with it.

        Returns the case (with ``request_count`` and ``principals`` as they are now, without the
        requests loaded) and True when it was opened by this call.
        """
        ...

    def find_open(self, scope_key: str) -> Case | None:
        """The open case for ``scope_key`` (no requests loaded), or None."""
        ...

    def get_case(self, case_id: str) -> Case | None:
        """The case with all its requests, or None."""
        ...

    def list_cases(self, status: str | None = None) -> list[Case]:
        """Cases (no requests loaded), newest first, optionally only those with ``status``."""
        ...

    def apply(self, case_id: str, expected_version: int, change: CaseChange) -> Case:
        """Apply a reviewer's transition if the case is still at ``expected_version`` and open.

        Atomically: the status, approvals and history change, the version goes up, the scope is
        released when the case leaves ``open``, and ``change.licence`` (if any) is issued. Raises
        ConflictError when the case changed since it was read (re-read and retry), WorkflowError
        when the licence number exists, NotFoundError when there is no such case.
        """
        ...


@runtime_checkable
class LicenceStore(Protocol):
    """Licences and their drawdown.

    # INVARIANT: ``draw`` never takes ``remaining`` below zero, also with many concurrent writers;
    # it is one conditional write, not a read followed by a write.
    # INVARIANT: ``refund`` gives a decision's draw back at most once (a marker keyed by the decision
    # id, written atomically with the credit) and never takes ``remaining`` above ``quantity``.
    """

    def get_licence(self, number: str) -> Licence | None:
        ...

    def list_licences(self, provider: str | None = None, account_id: str | None = None) -> list[Licence]:
        """Licences ordered by number, optionally for one customer account."""
        ...

    def put_licence(self, licence: Licence) -> None:
        """Add a licence outside a case (an import); WorkflowError when the number exists."""
        ...

    def draw(self, number: str, quantity: float, *, on: date) -> Licence | None:
        """Take ``quantity`` from an active licence valid on ``on`` with at least that much left.

        Returns the licence after the draw, or None when the condition does not hold (nothing changes).
        """
        ...

    def refund(self, number: str, quantity: float, *, decision_id: str) -> Refund:
        """Give back ``quantity`` drawn for ``decision_id`` (whose record could not be made durable), once.

        ``"refunded"`` when given back now; ``"already"`` when it was given back for that decision before
        (nothing changes); ``"refused"`` when there is no such licence or giving it back would take
        ``remaining`` above the licence's quantity (nothing changes: the books do not add up, and
        over-crediting a licence is worse than leaving a draw standing).
        """
        ...

    def revoke(self, number: str, *, by: str, reason: str, at: datetime) -> Licence:
        """Revoke an active licence; NotFoundError / WorkflowError (already revoked)."""
        ...


@runtime_checkable
class StateStore(Protocol):
    """One backend: profiles, cases, licences and screening, created by ``init`` (``gatekeeper store init``)."""

    profiles: ProfileStore
    cases: CaseStore
    licences: LicenceStore

    @property
    def screening(self) -> ScreeningStore:
        """The restricted-party lists and hits kept beside the profiles."""
        ...

    def screening_subjects(self) -> list[CustomerProfile]:
        """Every profile, for a re-screening (names and countries; the hits are not needed)."""
        ...

    def init(self) -> list[str]:
        """Create what is missing (tables, indexes); idempotent; returns a line per table."""
        ...

    def close(self) -> None:
        ...


class SQLConnection(Protocol):
    """A connection inside a transaction: sqlite3's, or the PostgreSQL adapter's (same calls)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any:
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any:
        ...


class SQLSession(Protocol):
    """One connection held for a run of statements (``SQLDatabase.session``): ``conn`` outside any write
    transaction (autocommit: it takes no write lock, so it may fill temporary tables for as long as it
    needs), and ``transaction()``, a write transaction on that same connection, made serial by
    ``serialise()`` from that point on (SQLite's are serial from the start; on PostgreSQL the advisory
    lock is taken there, so statements before it hold only their rows' locks)."""

    @property
    def conn(self) -> SQLConnection:
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        ...

    def serialise(self) -> None:
        ...


class SQLDatabase(Protocol):
    """A SQL database the SQL stores run on (``?`` placeholders; rows readable by column name).

    ``transaction()`` is one write transaction. With ``serial`` (the default) it is serialised with
    every other serial transaction on the database, on every machine: SQLite's ``BEGIN IMMEDIATE``,
    a transaction-scoped advisory lock on PostgreSQL. So read-check-write bodies cannot interleave;
    single conditional statements (a licence draw) pass ``serial=False``.
    """

    @property
    def name(self) -> str:
        """What messages call the database (a file path, or a PostgreSQL host/database/schema)."""
        ...

    def transaction(self, *, serial: bool = True) -> AbstractContextManager[Any]:
        ...

    def session(self) -> AbstractContextManager[SQLSession]:
        """One connection for a bulk write staged outside the write lock (``SQLStore.import_profiles``)."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        ...

    def query_values(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """``query`` with each row a plain tuple of its columns, in the SELECT's order (bulk reads)."""
        ...

    def ensure_schema(self, ddl: str) -> None:
        """SQLite: create the tables of ``ddl`` if missing. PostgreSQL: nothing (``store init`` migrates)."""
        ...

    def close(self) -> None:
        ...
