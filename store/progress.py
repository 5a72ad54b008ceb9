"""What each worker has committed, per topic partition, for /health and operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import dialect_insert
from store.tables import WorkerProgressRow


@dataclass(frozen=True, slots=True)
class Progress:
    worker: str
    topic: str
    partition: int
    committed_offset: int
    highwater: int | None
    last_event_at: datetime | None
    updated_at: datetime

    @property
    def lag(self) -> int | None:
        """Messages behind the broker's high-water mark, if the broker reported one."""
        return None if self.highwater is None else max(self.highwater - self.committed_offset, 0)


def record_progress(session: Session, worker: str, topic: str, partition: int,
                    committed_offset: int, highwater: int | None,
                    last_event_at: datetime | None, *, at: datetime | None = None) -> None:
    """Upsert one partition's progress; the caller commits.

    A null ``highwater`` or ``last_event_at`` (a batch of only bad messages,
    a broker that reports no high-water mark) keeps the previous value.
    """
    table = WorkerProgressRow.__table__
    statement = dialect_insert(session, table).values(
        worker=worker, topic=topic, partition=partition, committed_offset=committed_offset,
        highwater=highwater, last_event_at=last_event_at, updated_at=at or datetime.now(UTC))
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.worker, table.c.topic, table.c.partition],
        set_={
            "committed_offset": statement.excluded.committed_offset,
            "highwater": func.coalesce(statement.excluded.highwater, table.c.highwater),
            "last_event_at": func.coalesce(statement.excluded.last_event_at,
                                           table.c.last_event_at),
            "updated_at": statement.excluded.updated_at,
        },
    )
    session.execute(statement)


def read_progress(session: Session, worker: str | None = None) -> list[Progress]:
    """Every recorded partition (or one worker's), ordered by worker, topic, partition."""
    query = select(WorkerProgressRow).order_by(
        WorkerProgressRow.worker, WorkerProgressRow.topic, WorkerProgressRow.partition)
    if worker is not None:
        query = query.where(WorkerProgressRow.worker == worker)
    return [Progress(row.worker, row.topic, row.partition, row.committed_offset, row.highwater,
                     row.last_event_at, row.updated_at) for row in session.scalars(query)]
