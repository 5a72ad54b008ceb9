"""What the raster worker records: nowcast runs with county summaries, InSAR
candidate areas and their decisions, InSAR velocity at risk points.

Writers are idempotent because the raster worker is at-least-once: a run is
replaced by id (its county rows with it), candidate areas are inserted only
when their id is new (so a decision survives a re-ingested product), and
samples are upserted by (point, product). The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from store.db import dialect_insert
from store.read import is_adcode
from store.tables import CandidateAreaRow, InsarSampleRow, NowcastCountyRow, NowcastRunRow
from warning_models.levels import Level

CANDIDATE, ACCEPTED, REJECTED = "candidate", "accepted", "rejected"
CandidateStatus = Literal["candidate", "accepted", "rejected", "all"]
SHARES = tuple(level.label for level in Level)


class CandidateAreaNotFoundError(LookupError):
    """No candidate area with that id."""


class CandidateAreaDecidedError(RuntimeError):
    """The area was already accepted or rejected; decisions are final."""


@dataclass(frozen=True, slots=True)
class NowcastRun:
    id: str
    kind: str
    product: str
    location: str
    valid_at: datetime
    created_at: datetime
    model_version: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CountySummary:
    """``shares`` maps level labels (none .. red) to the share of the covered area."""

    adcode: str
    name: str
    province: str | None
    province_adcode: str
    max_level: int
    shares: dict[str, float]
    data_coverage: float
    data_area_m2: float
    county_area_m2: float
    points_at_or_above: int
    threatened_population: int


@dataclass(frozen=True, slots=True)
class CandidateArea:
    id: str
    status: str
    product: str
    location: str
    valid_at: datetime
    geometry: dict[str, Any]
    lon: float
    lat: float
    area_m2: float
    pixel_count: int
    mean_velocity_mm_yr: float
    peak_velocity_mm_yr: float
    evidence: dict[str, Any]
    created_at: datetime
    decided_at: datetime | None = None
    decision_reason: str | None = None
    point_id: str | None = None


@dataclass(frozen=True, slots=True)
class InsarSample:
    point_id: str
    product_id: str
    location: str
    valid_at: datetime
    velocity_mm_yr: float


# --- nowcast -------------------------------------------------------------------------------

def save_nowcast_run(session: Session, run: NowcastRun, counties: Sequence[CountySummary]) -> None:
    """Write ``run`` and its county summaries, replacing a run with the same id."""
    session.execute(delete(NowcastCountyRow).where(NowcastCountyRow.run_id == run.id))
    session.execute(delete(NowcastRunRow).where(NowcastRunRow.id == run.id))
    session.execute(NowcastRunRow.__table__.insert().values(
        id=run.id, kind=run.kind, product=run.product, location=run.location,
        valid_at=run.valid_at, created_at=run.created_at, model_version=run.model_version,
        evidence=run.evidence))
    if counties:
        session.execute(NowcastCountyRow.__table__.insert(), [_county_row(run.id, c)
                                                               for c in counties])


def _county_row(run_id: str, c: CountySummary) -> dict[str, Any]:
    return {"run_id": run_id, "adcode": c.adcode, "name": c.name, "province": c.province,
            "province_adcode": c.province_adcode, "max_level": c.max_level,
            **{f"share_{label}": float(c.shares.get(label, 0.0)) for label in SHARES},
            "data_coverage": c.data_coverage, "data_area_m2": c.data_area_m2,
            "county_area_m2": c.county_area_m2, "points_at_or_above": c.points_at_or_above,
            "threatened_population": c.threatened_population}


def latest_nowcast_run(session: Session, kind: str = "observed") -> NowcastRun | None:
    """The run of ``kind`` with the newest valid time (the newest written on a tie)."""
    row = session.scalars(select(NowcastRunRow).where(NowcastRunRow.kind == kind)
                          .order_by(NowcastRunRow.valid_at.desc(), NowcastRunRow.created_at.desc())
                          .limit(1)).first()
    if row is None:
        return None
    return NowcastRun(row.id, row.kind, row.product, row.location, row.valid_at, row.created_at,
                      row.model_version, dict(row.evidence or {}))


def nowcast_counties(session: Session, run_id: str, *, province: str | None = None,
                     min_level: int | None = None) -> list[CountySummary]:
    """A run's county summaries by adcode; ``province`` is a stored name or an adcode."""
    query = select(NowcastCountyRow).where(NowcastCountyRow.run_id == run_id)
    if province is not None:
        column = (NowcastCountyRow.province_adcode if is_adcode(province)
                  else NowcastCountyRow.province)
        query = query.where(column == province)
    if min_level is not None:
        query = query.where(NowcastCountyRow.max_level >= min_level)
    return [CountySummary(
        adcode=r.adcode, name=r.name, province=r.province, province_adcode=r.province_adcode,
        max_level=r.max_level, shares={label: getattr(r, f"share_{label}") for label in SHARES},
        data_coverage=r.data_coverage, data_area_m2=r.data_area_m2,
        county_area_m2=r.county_area_m2, points_at_or_above=r.points_at_or_above,
        threatened_population=r.threatened_population)
        for r in session.scalars(query.order_by(NowcastCountyRow.adcode))]


# --- candidate areas -----------------------------------------------------------------------

_AREA_FIELDS = ("id", "status", "product", "location", "valid_at", "geometry", "lon", "lat",
                "area_m2", "pixel_count", "mean_velocity_mm_yr", "peak_velocity_mm_yr",
                "evidence", "created_at", "decided_at", "decision_reason", "point_id")


def add_candidate_areas(session: Session, areas: Sequence[CandidateArea]) -> int:
    """Insert the areas whose id is new; return how many were new."""
    if not areas:
        return 0
    table = CandidateAreaRow.__table__
    known = set(session.scalars(select(CandidateAreaRow.id).where(
        CandidateAreaRow.id.in_([a.id for a in areas]))))
    fresh = {a.id: a for a in areas if a.id not in known}
    if not fresh:
        return 0
    statement = dialect_insert(session, table).on_conflict_do_nothing(index_elements=[table.c.id])
    session.execute(statement, [{name: getattr(a, name) for name in _AREA_FIELDS}
                                for a in fresh.values()])
    return len(fresh)


def _area(row: CandidateAreaRow) -> CandidateArea:
    return CandidateArea(**{name: getattr(row, name) for name in _AREA_FIELDS})


def list_candidate_areas(session: Session, *, status: CandidateStatus = CANDIDATE,
                         limit: int = 1000, offset: int = 0) -> tuple[list[CandidateArea], int]:
    """A page of areas (newest product first, then largest), and how many match in all."""
    where = [] if status == "all" else [CandidateAreaRow.status == status]
    total = session.scalar(select(func.count()).select_from(CandidateAreaRow).where(*where)) or 0
    rows = session.scalars(select(CandidateAreaRow).where(*where).order_by(
        CandidateAreaRow.valid_at.desc(), CandidateAreaRow.area_m2.desc(), CandidateAreaRow.id)
        .limit(limit).offset(offset))
    return [_area(row) for row in rows], total


def candidate_areas_between(session: Session, *, status: CandidateStatus = "all",
                            since: datetime | None = None, until: datetime | None = None
                            ) -> list[CandidateArea]:
    """Every area of ``status`` whose product is valid within [since, until] (open ends: None),
    in the order of ``list_candidate_areas``. Callers filter further by place (an area's
    province follows from its polygon, which the table does not index)."""
    where = [] if status == "all" else [CandidateAreaRow.status == status]
    if since is not None:
        where.append(CandidateAreaRow.valid_at >= since)
    if until is not None:
        where.append(CandidateAreaRow.valid_at <= until)
    rows = session.scalars(select(CandidateAreaRow).where(*where).order_by(
        CandidateAreaRow.valid_at.desc(), CandidateAreaRow.area_m2.desc(), CandidateAreaRow.id))
    return [_area(row) for row in rows]


def get_candidate_area(session: Session, area_id: str) -> CandidateArea | None:
    row = session.get(CandidateAreaRow, area_id)
    return None if row is None else _area(row)


def decide_candidate_area(session: Session, area_id: str, *, status: str,
                          point_id: str | None = None, reason: str | None = None,
                          at: datetime | None = None) -> CandidateArea:
    """Mark a pending area accepted (with the new point's id) or rejected (with a reason).

    The update only matches a pending area, so two officers deciding at once
    cannot both succeed.
    """
    if status not in (ACCEPTED, REJECTED):
        raise ValueError(f"a decision is {ACCEPTED!r} or {REJECTED!r}, not {status!r}")
    result = session.execute(
        update(CandidateAreaRow)
        .where(CandidateAreaRow.id == area_id, CandidateAreaRow.status == CANDIDATE)
        .values(status=status, point_id=point_id, decision_reason=reason,
                decided_at=at or datetime.now(UTC)))
    if result.rowcount != 1:
        current = get_candidate_area(session, area_id)
        if current is None:
            raise CandidateAreaNotFoundError(f"no candidate area with id {area_id!r}")
        raise CandidateAreaDecidedError(
            f"candidate area {area_id} was already {current.status}"
            + (f" as risk point {current.point_id}" if current.point_id else ""))
    session.expire_all()
    decided = get_candidate_area(session, area_id)
    assert decided is not None
    return decided


# --- InSAR samples -------------------------------------------------------------------------

def save_insar_samples(session: Session, samples: Sequence[InsarSample], *,
                       at: datetime | None = None) -> int:
    """Upsert velocity samples by (point, product); return how many were written."""
    if not samples:
        return 0
    now = at or datetime.now(UTC)
    table = InsarSampleRow.__table__
    statement = dialect_insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.point_id, table.c.product_id],
        set_={name: statement.excluded[name] for name in ("location", "valid_at",
                                                          "velocity_mm_yr", "created_at")})
    session.execute(statement, [{"point_id": s.point_id, "product_id": s.product_id,
                                 "location": s.location, "valid_at": s.valid_at,
                                 "velocity_mm_yr": s.velocity_mm_yr, "created_at": now}
                                for s in samples])
    return len(samples)


def insar_samples(session: Session, point_id: str) -> list[InsarSample]:
    """Every stored velocity of one point, oldest product first."""
    rows = session.scalars(select(InsarSampleRow).where(InsarSampleRow.point_id == point_id)
                           .order_by(InsarSampleRow.valid_at, InsarSampleRow.product_id))
    return [InsarSample(r.point_id, r.product_id, r.location, r.valid_at, r.velocity_mm_yr)
            for r in rows]


# --- nowcast files -------------------------------------------------------------------------

NOWCAST_COGS = {"observed": "latest.tif", "forecast": "forecast.tif"}
"""File names of the newest level grids (COG) under the nowcast directory, by run kind."""


def nowcast_cog_path(directory: Path, kind: str) -> Path:
    """Where the raster worker publishes, and the API serves, the newest grid of ``kind``."""
    try:
        return Path(directory) / NOWCAST_COGS[kind]
    except KeyError:
        raise ValueError(f"nowcast kind is one of {', '.join(NOWCAST_COGS)}, not {kind!r}") from None
