"""Bad announcements and bad rasters become dead letters with the specific reason, and
nothing of them is applied; a database that fails mid-announcement publishes no file."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import orjson
import pytest
from affine import Affine
from rasterio.crs import CRS
from sqlalchemy import func, select, text

from geo.boundaries import Boundaries
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from store.tables import NowcastRunRow
from streams.raster_worker import RasterHandler, RasterWorkerStopped
from streams.schemas import DeadLetter
from streams.topics import Topics
from tests.streams.raster_scenarios import (
    POINTS,
    announcement,
    raster_settings,
    record,
    write_geotiff,
    write_rain,
    write_susceptibility,
)

TOPICS = Topics()


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        upsert_points(session, POINTS)
    root = tmp_path / "rasters"
    handler = RasterHandler(raster_settings(root, tmp_path / "nowcast"), TOPICS, sessions,
                            Boundaries.load(), backoff_s=(0.01, 0.01))
    try:
        yield handler, root, sessions
    finally:
        engine.dispose()


def rejected(handler: RasterHandler, value: bytes | None, offset: int = 7) -> DeadLetter:
    """Process one message that must be refused; return its (only) dead letter."""
    outputs = handler.process(record(value, offset=offset))
    assert [o.topic for o in outputs] == [TOPICS.deadletter]
    letter = DeadLetter.model_validate(orjson.loads(outputs[0].value))
    assert letter.original_value() == value
    assert (letter.source_topic, letter.source_offset, letter.stage) == ("geowarn.rasters",
                                                                        offset, "raster")
    return letter


def nothing_written(handler: RasterHandler, sessions) -> bool:
    files = list(handler.settings.nowcast_dir.rglob("*")) if handler.settings.nowcast_dir.exists() \
        else []
    with sessions() as session:
        runs = session.scalar(select(func.count()).select_from(NowcastRunRow))
    return not [f for f in files if f.is_file()] and runs == 0


def truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def test_undecodable_and_invalid_announcements(world):
    handler, _, _ = world
    assert "not JSON" in rejected(handler, b"{oops").reason
    assert "tombstone" in rejected(handler, None).reason
    letter = rejected(handler, orjson.dumps({"product": "rainfall_observed", "location": "x.tif",
                                             "valid_at": "2026-07-01T08:00:00", "units": "mm/h"}))
    assert "valid_at" in letter.reason and "time zone" in letter.reason


@pytest.mark.parametrize(("make", "units", "expected"), [
    (lambda root, tmp: tmp / "elsewhere.tif", "mm/h", "outside the allowed roots"),
    (lambda root, tmp: root / "missing.tif", "mm/h", "no such file"),
    (lambda root, tmp: truncated_copy(write_rain(tmp / "full.tif"), root / "cut.tif"), "mm/h",
     "truncated"),
    (lambda root, tmp: _text_file(root / "notes.tif"), "mm/h", "unsupported format"),
    (lambda root, tmp: write_geotiff(root / "nocrs.tif", np.ones((8, 8), np.float32),
                                     Affine(0.1, 0, 103, 0, -0.1, 31), crs=None),
     "mm/h", "declares no coordinate reference system"),
    (lambda root, tmp: write_geotiff(root / "local.tif", np.ones((8, 8), np.float32),
                                     Affine(1000, 0, 0, 0, -1000, 0),
                                     crs=CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1]]')),
     "mm/h", "cannot transform its CRS"),
    (lambda root, tmp: write_geotiff(root / "paris.tif", np.ones((8, 8), np.float32),
                                     Affine(0.1, 0, 2.0, 0, -0.1, 49.0)),
     "mm/h", "does not touch the territory"),
    (lambda root, tmp: write_rain(root / "rain.tif"), "inches", "rainfall units 'inches'"),
])
def test_bad_rasters_are_dead_lettered_with_the_reason_and_change_nothing(world, tmp_path, make,
                                                                          units, expected):
    handler, root, sessions = world
    root.mkdir(parents=True, exist_ok=True)
    letter = rejected(handler, announcement("rainfall_observed", make(root, tmp_path), units))
    assert expected in letter.reason
    assert nothing_written(handler, sessions)         # not even the rain state
    assert handler.counts["dead_letters"] == 1


def test_an_absurd_declared_size_is_refused_before_reading(world, tmp_path):
    handler, root, sessions = world
    handler.settings = raster_settings(root, tmp_path / "nowcast", max_cells=1000)
    letter = rejected(handler, announcement("rainfall_observed", write_rain(root / "r.tif"),
                                            "mm/h"))
    assert "more than the configured maximum of 1,000" in letter.reason
    assert nothing_written(handler, sessions)


def test_a_displacement_product_that_is_no_time_series_and_bad_susceptibility_are_refused(world):
    handler, root, sessions = world
    rain = write_rain(root / "r.tif")
    assert "must be a MintPy timeseries.h5" in rejected(
        handler, announcement("insar_displacement", rain, "m")).reason
    classes = write_geotiff(root / "classes.tif", np.full((8, 8), 3.0, np.float32),
                            Affine(0.1, 0, 103, 0, -0.1, 31))
    assert "must lie in 0..1" in rejected(
        handler, announcement("susceptibility", classes, "1")).reason
    assert nothing_written(handler, sessions)


def test_the_worker_goes_on_after_a_bad_raster(world, tmp_path):
    handler, root, _ = world
    root.mkdir(parents=True)
    bad = truncated_copy(write_rain(tmp_path / "full.tif"), root / "cut.tif")
    batch = {None: [record(announcement("rainfall_observed", bad, "mm/h"), offset=0),
                    record(announcement("rainfall_observed", write_rain(root / "ok.tif"),
                                        "mm/h"), offset=1)]}
    outputs = handler.handle(batch)
    assert [o.topic for o in outputs].count(TOPICS.deadletter) == 1
    assert {o.key for o in outputs if o.topic == TOPICS.readings} == {b"WET1", b"WET2", b"DRY1"}


def test_a_failing_database_publishes_no_file_and_stops_cleanly(world):
    handler, root, sessions = world
    handler.process(record(announcement("susceptibility", write_susceptibility(root / "s.tif"),
                                        "1")))
    before = sorted(p.name for p in handler.settings.nowcast_dir.rglob("*") if p.is_file())
    with session_scope(sessions) as session:            # the nowcast tables disappear
        session.execute(text("DROP TABLE nowcast_counties"))
    handler.stop = threading.Event()
    handler.stop.set()                                  # so the retry gives up at once
    with pytest.raises(RasterWorkerStopped):
        handler.process(record(announcement("rainfall_observed", write_rain(root / "r.tif"),
                                            "mm/h")))
    after = sorted(p.name for p in handler.settings.nowcast_dir.rglob("*") if p.is_file())
    assert after == before == ["susceptibility.npz"]     # no COG, no rain state, no temp file


def _text_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a raster\n")
    return path
