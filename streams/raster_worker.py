"""The raster worker: announcements in; derived readings, nowcasts and candidate areas out.

It consumes ``geowarn.rasters`` in its own consumer group through the generic
``streams.worker.Worker`` loop, a few announcements per poll (one raster can
cover a province). Per announcement, in this order:

1. decode and validate the announcement;
2. open the raster through the policy (allowed roots, declared size, CRS,
   territory), read it and compute its ``Plan`` by product:
   ``rainfall_observed`` -> readings at every risk point, rain state, observed
   nowcast (a grid above ``policy.max_read_cells`` is read as a dask array
   and all three are computed chunk by chunk, see ``streams.raster_rainfall``);
   ``rainfall_forecast`` -> forecast nowcast; ``insar_velocity`` ->
   velocity at risk points and candidate areas (a map above the budget is
   copied chunk by chunk into memory maps and followed block by block, see
   ``geo.insar_chunked``); ``insar_displacement`` (a
   MintPy time series) -> the same, from the velocity fitted to its epochs;
   ``susceptibility``/``dem`` ->
   the current susceptibility grid. Files are staged under temporary names;
3. apply the plan's database writes in ONE transaction;
4. rename the staged files into place (only now can a reader see them);
5. (the Worker) produce the readings and dead letters, flush, and only then
   commit the offsets.

A crash anywhere redelivers the announcement, and doing it again is
harmless: runs and samples are upserted by deterministic ids, candidate
areas are inserted only when new, the rain state remembers which valid times
it holds, and duplicate readings carry the same point, sensor and time.

Error policy: a bad announcement or raster (undecodable JSON, path outside
the roots, unsupported format, corrupt or truncated file, unknown CRS,
outside the territory, absurd size, wrong units) becomes a dead letter with
the specific reason, the original bytes and the source offset, plus an error
log line; nothing of it is applied, and the worker goes on. An unavailable
database is retried with backoff holding the announcement; setting ``stop``
during that wait raises ``RasterWorkerStopped`` without committing.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
from kafka import TopicPartition
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from geo.boundaries import Boundaries
from geo.insar_areas import AreaMatchParams
from geo.insar_chunked import DiskArrays
from geo.rasters import RasterError, RasterGrid, RasterPolicy, open_raster, read_raster
from geo.rasters.chunked import is_lazy, lazy_grid
from store.db import session_scope
from store.points import load_point_index
from streams.deadletter import dead_letter, encode_dead_letter
from streams.kafka_config import KafkaConfig
from streams.ledger import Backoff
from streams.raster_files import NowcastPaths, Plan, load_arrays
from streams.raster_insar import (
    VelocityProduct,
    displacement_factor,
    plan_velocity,
    read_displacement,
    read_velocity,
    read_velocity_in_blocks,
    velocity_factor,
)
from streams.raster_nowcast import Climatology, NowcastConfig, PointArrays
from streams.raster_rain_chunked import load_chunked_state
from streams.raster_rainfall import RainfallContext, plan_forecast, plan_observed, rain_rates
from streams.raster_state import GridRef, RainState
from streams.raster_susceptibility import (
    dem_units,
    from_dem,
    from_index,
    from_index_units,
    load_susceptibility,
    plan_susceptibility,
)
from streams.schemas import RasterAnnouncement
from streams.topics import Topics
from streams.worker import Outbound, ProgressCallback, Worker
from warning_models.insar import InsarParams
from warning_models.susceptibility import SusceptibilityParams

log = logging.getLogger(__name__)

STAGE = "raster"
RETRYABLE = (OperationalError, InterfaceError)
"""Database failures that say nothing about the raster (connection lost, locked): retried."""
T = TypeVar("T")


class RasterWorkerStopped(Exception):
    """``stop`` was set while the database was being retried; nothing was committed."""


class UnsupportedProductError(ValueError):
    """A product the worker does not process (yet)."""


@dataclass(frozen=True)
class RasterSettings:
    """Everything the raster worker is configured by (built from Settings by the root)."""

    policy: RasterPolicy
    nowcast_dir: Path
    nowcast: NowcastConfig = field(default_factory=NowcastConfig)
    insar: InsarParams = field(default_factory=InsarParams)
    match: AreaMatchParams = field(default_factory=AreaMatchParams)
    susceptibility: SusceptibilityParams = field(default_factory=SusceptibilityParams)
    percentile_file: Path | None = None
    """A raster of the local percentile of P_e (mm) for the nowcast; None: one value."""


def decode_announcement(value: bytes | None) -> RasterAnnouncement:
    """One message value as a RasterAnnouncement; ValueError with a readable reason otherwise."""
    if value is None:
        raise ValueError("invalid announcement: empty message value (tombstone)")
    try:
        return RasterAnnouncement.model_validate(orjson.loads(value))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid announcement: not JSON ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise ValueError(f"invalid announcement: {problems}") from None


def load_points(session: Session) -> PointArrays:
    """The registry as columns (ids, lon, lat, threatened people), ordered by id."""
    index = load_point_index(session)
    ids = sorted(index)
    return PointArrays(
        ids=ids, lon=np.array([index[i].lon for i in ids], dtype=float),
        lat=np.array([index[i].lat for i in ids], dtype=float),
        population=np.array([index[i].threatened_people for i in ids], dtype=np.int64))


def check_units(product: str, units: str) -> None:
    """Refuse units the worker would not understand for ``product`` (ValueError), early."""
    if product in ("rainfall_observed", "rainfall_forecast"):
        rain_rates(np.zeros(1), units, 1.0)
    elif product == "insar_velocity":
        velocity_factor(units)
    elif product == "insar_displacement":
        displacement_factor(units)
    elif product == "susceptibility":
        from_index_units(units)
    elif product == "dem":
        dem_units(units)


class RasterHandler:
    """The per-announcement step of the worker (``streams.worker.Handler``)."""

    def __init__(self, settings: RasterSettings, topics: Topics,
                 sessions: sessionmaker[Session], boundaries: Boundaries, *,
                 stop: threading.Event | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 backoff_s: tuple[float, float] = (0.5, 30.0)) -> None:
        self.settings, self.topics, self.sessions = settings, topics, sessions
        self.boundaries, self.clock = boundaries, clock
        self.stop = stop or threading.Event()
        self.paths = NowcastPaths.under(settings.nowcast_dir)
        # memory maps of velocity maps above the budget, removed after each announcement
        self.work_dir = settings.nowcast_dir / "work"
        self.counts: Counter[str] = Counter()
        self._backoff_s = backoff_s
        self._last_event_at: datetime | None = None
        self._percentiles: tuple[tuple[str, int], Climatology] | None = None

    @property
    def last_event_at(self) -> datetime | None:
        return self._last_event_at

    def maintain(self) -> None:
        """Nothing to refresh: the registry is read per announcement (rasters are rare)."""

    def handle(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> list[Outbound]:
        outputs: list[Outbound] = []
        for records in batch.values():
            for record in records:
                outputs.extend(self.process(record))
        return outputs

    def process(self, record: Any) -> list[Outbound]:
        """Plan, apply and return the outputs of one announcement (or its dead letter)."""
        try:
            ann = decode_announcement(record.value)
        except ValueError as exc:
            return [self._dead(record, str(exc))]
        try:
            plan = self.plan(ann)
        except RasterWorkerStopped:
            raise
        except (RasterError, ValueError) as exc:
            return [self._dead(record, f"{ann.product} {ann.location}: {exc}")]
        except Exception as exc:   # a raster that breaks a library is still one bad raster
            log.exception("%s: unexpected failure on %s", STAGE, ann.location)
            return [self._dead(record, f"{ann.product} {ann.location}: could not be processed "
                                       f"({type(exc).__name__}: {exc})")]
        try:
            self._apply(plan)
        except RasterWorkerStopped:
            raise
        except DBAPIError as exc:
            log.exception("%s: storing %s failed", STAGE, ann.location)
            return [self._dead(record, f"{ann.product} {ann.location}: could not be stored "
                                       f"({type(exc).__name__}: {exc.orig})")]
        self.counts[ann.product] += 1
        self._last_event_at = ann.valid_at
        log.info("%s: %s %s valid %s: %s", STAGE, ann.product, ann.location,
                 ann.valid_at.isoformat(), plan.summary)
        return plan.outputs

    # -- planning -----------------------------------------------------------------------------

    def plan(self, ann: RasterAnnouncement) -> Plan:
        """Read the raster and compute what it changes; files are staged, nothing applied."""
        policy = self.settings.policy
        if ann.product == "insar_displacement":
            with DiskArrays(self.work_dir) as disk:   # a map above the budget: memory maps
                product, epochs = read_displacement(ann.location, ann.units, policy,
                                                    ann.valid_at, disk)
                plan = self._plan_velocity(ann, product)
            plan.summary = f"velocity fitted to {epochs} epochs; {plan.summary}"
            return plan
        with open_raster(ann.location, policy, valid_at=ann.valid_at) as source:
            location = source.meta.location
            above = source.meta.height * source.meta.width > policy.max_read_cells
            if ann.product == "rainfall_observed" and above:
                # above the budget: a lazy dask grid, read chunk by chunk while the file is open
                return self._plan_product(ann, lazy_grid(source, policy.chunk_cells), location)
            if ann.product == "insar_velocity" and above:
                with DiskArrays(self.work_dir) as disk:
                    product = read_velocity_in_blocks(lazy_grid(source, policy.chunk_cells),
                                                      location, ann.units, policy, disk)
                    return self._plan_velocity(ann, product)
            grid = source.read(max_cells=policy.max_read_cells)
        return self._plan_product(ann, grid, location)

    def _plan_velocity(self, ann: RasterAnnouncement, product: VelocityProduct) -> Plan:
        return plan_velocity(product, product_name=ann.product, valid_at=ann.valid_at,
                             points=self._points(), insar_params=self.settings.insar,
                             match_params=self.settings.match, now=self.clock())

    def _plan_product(self, ann: RasterAnnouncement, grid: RasterGrid, location: str) -> Plan:
        policy = self.settings.policy
        now = self.clock()
        if ann.product in ("rainfall_observed", "rainfall_forecast"):
            ctx = RainfallContext(
                config=self.settings.nowcast, paths=self.paths, points=self._points(),
                boundaries=self.boundaries, readings_topic=self.topics.readings,
                state=self._rain_state(in_blocks=is_lazy(grid.data)),
                susceptibility=load_susceptibility(self.paths.susceptibility), now=now,
                climatology=self._climatology())
            step = plan_observed if ann.product == "rainfall_observed" else plan_forecast
            return step(ann, grid, location, ctx)
        if ann.product == "insar_velocity":
            return self._plan_velocity(ann, read_velocity(grid, location, ann.units, policy))
        if ann.product == "susceptibility":
            return plan_susceptibility(from_index(grid, ann.units, location),
                                       self.paths.susceptibility)
        if ann.product == "dem":
            return plan_susceptibility(from_dem(grid, ann.units, location,
                                                self.settings.susceptibility),
                                       self.paths.susceptibility)
        raise UnsupportedProductError(f"unknown product {ann.product!r}")

    def _points(self) -> PointArrays:
        def read() -> PointArrays:
            with session_scope(self.sessions) as session:
                return load_points(session)
        return self._retrying(read, "reading the risk-point registry")

    def _climatology(self) -> Climatology | None:
        """The configured percentile grid, read once per change of the file."""
        path = self.settings.percentile_file
        if path is None:
            return None
        try:
            stamp = (str(path), path.stat().st_mtime_ns)
            if self._percentiles is None or self._percentiles[0] != stamp:
                policy = self.settings.policy.model_copy(update={
                    "allowed_roots": (path.resolve().parent,), "territory": None})
                grid = read_raster(path, policy)
                self._percentiles = (stamp, Climatology(grid.data, GridRef.of(grid), str(path)))
        except (OSError, RasterError) as exc:
            # a broken climatology must not cost the readings: the single value stands in
            log.error("%s: percentile grid %s unusable (%s); the nowcast uses the configured "
                      "value", STAGE, path, exc)
            return None
        return self._percentiles[1]

    def _rain_state(self, *, in_blocks: bool = False) -> RainState | None:
        """The rain state of in-memory grids, or (``in_blocks``) the on-disk one of grids
        above the budget."""
        if in_blocks:
            return load_chunked_state(self.paths)
        arrays = load_arrays(self.paths.rain_state)
        return None if arrays is None else RainState.from_arrays(arrays)

    # -- applying -----------------------------------------------------------------------------

    def _apply(self, plan: Plan) -> None:
        """Database writes in one transaction, then the staged files renamed into place."""
        if plan.writes:
            def write() -> None:
                with session_scope(self.sessions, write_lock=True) as session:
                    for step in plan.writes:
                        step(session)
            try:
                self._retrying(write, "writing to the database")
            except BaseException:
                plan.files.discard()
                raise
        plan.files.publish()

    def _retrying(self, action: Callable[[], T], what: str) -> T:
        backoff = Backoff(self.stop, *self._backoff_s)
        while True:
            try:
                return action()
            except RETRYABLE as exc:
                if self.stop.is_set():
                    raise RasterWorkerStopped(f"stopped while {what}") from exc
                log.warning("%s: %s failed (%s); retrying", STAGE, what, exc.orig)
                backoff.wait()
                if self.stop.is_set():
                    raise RasterWorkerStopped(f"stopped while {what}") from exc

    def _dead(self, record: Any, reason: str) -> Outbound:
        log.error("%s: rejected %s[%d]@%d: %s", STAGE, record.topic, record.partition,
                  record.offset, reason)
        self.counts["dead_letters"] += 1
        letter = dead_letter(record, reason=reason, stage=STAGE, failed_at=self.clock())
        return Outbound(self.topics.deadletter, record.key, encode_dead_letter(letter))


def raster_worker(*, config: KafkaConfig, topics: Topics, sessions: sessionmaker[Session],
                  settings: RasterSettings, boundaries: Boundaries,
                  group: str = "geowarn-raster", stop: threading.Event | None = None,
                  progress_callback: ProgressCallback | None = None,
                  batch_records: int = 2) -> Worker:
    """The raster worker, ready to ``run()`` (blocks until ``stop`` is set).

    ``batch_records`` bounds the announcements per poll: each may be a large
    raster, and the offsets of a batch are committed together.
    """
    stop = stop or threading.Event()
    handler = RasterHandler(settings, topics, sessions, boundaries, stop=stop)
    return Worker(name=STAGE, config=replace(config, max_poll_records=batch_records),
                  group=group, topics=[topics.rasters], handler=handler, stop=stop,
                  progress_callback=progress_callback)
