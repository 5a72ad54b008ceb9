"""The raster worker's handler without a broker, on SQLite and PostgreSQL: constructed
rainfall, susceptibility and DEM rasters over Sichuan in; readings, rain state, nowcast
COGs and county summaries out."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
import rasterio
from numpy.testing import assert_allclose
from sqlalchemy import func, select

from geo.boundaries import Boundaries
from geo.insar_areas import find_risk_areas
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from store.rasters import latest_nowcast_run, list_candidate_areas, nowcast_counties
from store.tables import NowcastRunRow
from streams.raster_files import load_arrays
from streams.raster_state import RainState
from streams.raster_worker import RasterHandler
from streams.topics import Topics
from tests.conftest import SHARED_DATA
from tests.streams.raster_scenarios import (
    NODATA,
    POINTS,
    RAIN_TRANSFORM,
    T0,
    announcement,
    rain_cell,
    rain_values,
    raster_settings,
    record,
    write_geotiff,
    write_rain,
    write_susceptibility,
    write_tilted_dem,
)
from warning_models.levels import Level

TOPICS = Topics()
PE_RTOL = 1e-6          # float32 state vs float64 reference


@pytest.fixture
def world(database_url: str, tmp_path: Path):
    """A migrated database holding POINTS, a raster root and a handler."""
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        upsert_points(session, POINTS)
    root = tmp_path / "rasters"
    settings = raster_settings(root, tmp_path / "nowcast")
    handler = RasterHandler(settings, TOPICS, sessions, Boundaries.load())
    try:
        yield handler, root, sessions
    finally:
        engine.dispose()


def readings(outputs) -> dict[str, dict]:
    return {o.key.decode(): orjson.loads(o.value) for o in outputs if o.topic == TOPICS.readings}


def test_observed_rain_gives_one_reading_per_point_with_the_value_of_its_cell(world):
    handler, root, _ = world
    rain = write_rain(root / "rain" / "0800.tif")
    outputs = handler.process(record(announcement("rainfall_observed", rain, "mm/h")))

    got = readings(outputs)
    assert set(got) == {"WET1", "WET2", "DRY1"}          # FAR1 outside, GAP1 on no data
    grid = rain_values()
    for p in POINTS[:3]:
        assert got[p.id]["value"] == float(grid[rain_cell(p.lon, p.lat)])
        assert got[p.id] | {"value": 0} == {
            "schema_version": 1, "point_id": p.id, "sensor_id": "grid:rainfall_observed",
            "kind": "rain_gauge", "observed_at": "2026-07-01T08:00:00Z", "value": 0,
            "unit": "mm/h"}
    assert got["DRY1"]["value"] == 0.0
    # Without susceptibility there is rain state but no nowcast.
    assert handler.paths.rain_state.is_file()
    assert not handler.paths.observed_cog.exists()


def test_rain_in_mm_over_a_three_hour_interval_is_a_third_of_it_per_hour(world):
    handler, root, _ = world
    handler.settings = replace(handler.settings, nowcast=handler.settings.nowcast.model_copy(
        update={"rainfall_interval_hours": 3.0}))
    rain = write_rain(root / "rain.tif")
    got = readings(handler.process(record(announcement("rainfall_observed", rain, "mm"))))
    expected = float(rain_values()[rain_cell(POINTS[0].lon, POINTS[0].lat)]) / 3.0
    assert got["WET1"]["value"] == pytest.approx(expected, rel=1e-12)


def test_nowcast_grid_and_county_summaries_follow_rain_and_susceptibility(world):
    handler, root, sessions = world
    susceptibility = write_susceptibility(root / "susc.tif")
    assert handler.process(record(announcement("susceptibility", susceptibility, "1"))) == []
    rain = write_rain(root / "rain.tif")
    handler.process(record(announcement("rainfall_observed", rain, "mm/h"), offset=1))

    with rasterio.open(handler.paths.observed_cog) as cog:
        levels = cog.read(1)
        assert cog.crs.to_epsg() == 4326
        assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    data = rain_values()
    wet = (data >= 160.0)
    assert (levels[wet] == Level.RED).all()
    assert (levels[(data == 0.0)] == Level.NONE).all()
    assert levels[data == NODATA].tolist() == [255]

    with sessions() as session:
        run = latest_nowcast_run(session, "observed")
        counties = {c.adcode: c for c in nowcast_counties(session, run.id)}
    assert run.valid_at == T0 and run.evidence["cells_by_level"]["red"] == int(wet.sum())
    assignment = Boundaries.load().assign(np.array([p.lon for p in POINTS[:2]]),
                                          np.array([p.lat for p in POINTS[:2]]))
    for adcode, p in zip(assignment.county_adcode, POINTS[:2], strict=True):
        assert counties[adcode].max_level == Level.RED
        assert counties[adcode].threatened_population >= p.threatened_people
    assert sum(c.threatened_population for c in counties.values()) == 150   # WET1 + WET2
    assert all(abs(sum(c.shares.values()) - 1.0) < 1e-9 for c in counties.values()
               if c.max_level >= 0)


def test_a_redelivered_raster_is_not_accumulated_twice_and_rewrites_the_same_run(world):
    handler, root, sessions = world
    handler.process(record(announcement("susceptibility", write_susceptibility(root / "s.tif"),
                                        "1")))
    message = announcement("rainfall_observed", write_rain(root / "rain.tif"), "mm/h")
    first = readings(handler.process(record(message, offset=1)))
    state = RainState.from_arrays(load_arrays(handler.paths.rain_state))
    second = readings(handler.process(record(message, offset=1)))

    assert first == second
    again = RainState.from_arrays(load_arrays(handler.paths.rain_state))
    assert_allclose(again.daily_mm, state.daily_mm)
    row, col = rain_cell(POINTS[0].lon, POINTS[0].lat)
    assert again.antecedent_mm(0.8)[row, col] == pytest.approx(first["WET1"]["value"],
                                                                rel=PE_RTOL)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(NowcastRunRow)) == 1


def test_the_next_day_decays_yesterdays_rain_by_k(world):
    handler, root, _ = world
    handler.process(record(announcement("rainfall_observed", write_rain(root / "d1.tif"),
                                        "mm/h")))
    handler.process(record(announcement("rainfall_observed", write_rain(root / "d2.tif", 0.5),
                                        "mm/h", T0 + timedelta(days=1)), offset=1))
    state = RainState.from_arrays(load_arrays(handler.paths.rain_state))
    row, col = rain_cell(POINTS[0].lon, POINTS[0].lat)
    today = float(rain_values()[row, col])
    assert state.antecedent_mm(0.8)[row, col] == pytest.approx(0.5 * today + 0.8 * today,
                                                                rel=PE_RTOL)


def test_a_forecast_gives_a_forecast_nowcast_and_no_readings(world):
    handler, root, sessions = world
    handler.process(record(announcement("susceptibility", write_susceptibility(root / "s.tif"),
                                        "1")))
    outputs = handler.process(record(announcement(
        "rainfall_forecast", write_rain(root / "fc.tif"), "mm/h", T0 + timedelta(hours=3))))
    assert outputs == []
    assert handler.paths.forecast_cog.is_file() and not handler.paths.observed_cog.exists()
    assert not handler.paths.rain_state.exists()          # a forecast never changes the state
    with sessions() as session:
        assert latest_nowcast_run(session, "forecast").valid_at == T0 + timedelta(hours=3)
        assert latest_nowcast_run(session, "observed") is None


def test_a_dem_becomes_the_susceptibility_grid_through_its_slope(world):
    handler, root, _ = world
    handler.process(record(announcement("dem", write_tilted_dem(root / "dem.tif", 30.0), "m")))
    arrays = load_arrays(handler.paths.susceptibility)
    inner = arrays["data"][5:-5, 5:-5]
    # Slope 30 degrees maps linearly from 5 (0) to 40 (1) degrees: (30 - 5) / 35.
    assert_allclose(inner, (30.0 - 5.0) / 35.0, atol=0.01)


def test_a_geotiff_velocity_in_mm_per_year_gives_the_areas_of_its_own_arrays(world, tmp_path):
    """Kirishima (Japan) as a GeoTIFF: this test's territory is a box around Kyushu."""
    handler, root, sessions = world
    handler.settings = raster_settings(root, tmp_path / "nowcast",
                                       territory=(129.0, 30.0, 132.5, 34.0))
    tif = root / "kirishima" / "velocity_los_mm_per_yr.tif"
    tif.parent.mkdir(parents=True)
    shutil.copy(SHARED_DATA / "insar" / "kirishima" / tif.name, tif)
    assert handler.process(record(announcement("insar_velocity", tif, "mm/yr"))) == []

    with rasterio.open(tif) as src:
        velocity, tags = src.read(1).astype(float), src.tags()
        transform, crs = src.transform, src.crs
    # No coherence file beside a GeoTIFF: every pixel with a value counts as coherent.
    _, areas = find_risk_areas(velocity, np.isfinite(velocity).astype(float), transform, crs,
                               (float(tags["ref_lon"]), float(tags["ref_lat"])))
    with sessions() as session:
        stored, total = list_candidate_areas(session, limit=10_000)
    assert total == len(areas) > 0
    assert_allclose(sorted(a.peak_velocity_mm_yr for a in stored),
                    sorted(areas["peak_velocity_mm_yr"]), atol=1e-9)
    assert {a.evidence["source"]["coherence"] for a in stored} == {
        "none (every pixel with a value)"}


def test_a_percentile_grid_sets_the_local_percentile_and_the_value_fills_its_gaps(world, tmp_path):
    handler, root, sessions = world
    climatology = np.full(rain_values().shape, np.nan, dtype=np.float32)
    climatology[:15] = 1000.0            # the north of the wet block is used to such rain
    percentile_file = write_geotiff(tmp_path / "climate" / "p95.tif", climatology, RAIN_TRANSFORM)
    handler.settings = replace(handler.settings, percentile_file=percentile_file)
    handler.process(record(announcement("susceptibility", write_susceptibility(root / "s.tif"),
                                        "1")))
    handler.process(record(announcement("rainfall_observed", write_rain(root / "rain.tif"),
                                        "mm/h"), offset=1))
    with rasterio.open(handler.paths.observed_cog) as cog:
        levels = cog.read(1)
    wet = rain_values() >= 160.0
    north = np.zeros_like(wet)
    north[:15] = True
    assert (levels[wet & north] < Level.RED).all()          # index 0.16: far below its norm
    assert (levels[wet & ~north] == Level.RED).all()        # the configured 100 mm elsewhere
    with sessions() as session:
        evidence = latest_nowcast_run(session, "observed").evidence
    assert evidence["percentile_cells_from_grid"] == 15 * 80
    assert evidence["percentile_source"].startswith(str(percentile_file))

    percentile_file.write_bytes(b"not a raster")             # broken: the value stands in
    handler.process(record(announcement("rainfall_observed", write_rain(root / "rain2.tif"),
                                        "mm/h", valid_at=T0 + timedelta(hours=1)), offset=2))
    with sessions() as session:
        evidence = latest_nowcast_run(session, "observed").evidence
    assert evidence["percentile_source"] == "configured value"
