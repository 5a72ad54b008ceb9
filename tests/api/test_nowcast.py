"""/tiles/nowcast, /nowcast/latest.tif and /nowcast/counties on a nowcast computed by the
raster worker's handler from constructed rasters over Sichuan (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from geo.boundaries import Boundaries
from geo.tiles import EARTH_RADIUS_M, empty_tile, tile_bounds, tile_for
from store.db import make_engine, session_factory, session_scope
from store.points import upsert_points
from streams.raster_worker import RasterHandler
from streams.topics import Topics
from tests.api.seed import bearer
from tests.streams.raster_scenarios import (
    announcement,
    point,
    raster_settings,
    record,
    write_rain,
    write_susceptibility,
)

RED = [255, 0, 0, 255]
WET = (102.52, 31.52)        # in the wet block: red
DRY = (103.80, 31.52)        # same latitude, east of the wet block: no warning
ZOOM = 7


@pytest.fixture
def nowcast(seeded_url: str, tmp_path: Path) -> Path:
    """The raster worker's handler, run on the API's database and data directory."""
    engine = make_engine(seeded_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        upsert_points(session, [point("WET1", *WET, people=100)])
    root = tmp_path / "rasters"
    handler = RasterHandler(raster_settings(root, tmp_path / "var" / "nowcast"), Topics(),
                            sessions, Boundaries.load())
    try:
        handler.process(record(announcement("susceptibility",
                                            write_susceptibility(root / "susc.tif"), "1")))
        handler.process(record(announcement("rainfall_observed", write_rain(root / "rain.tif"),
                                            "mm/h"), offset=1))
    finally:
        engine.dispose()
    assert handler.counts == {"susceptibility": 1, "rainfall_observed": 1}
    return handler.paths.observed_cog


def rgba(png: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)     # a tile has no CRS
        with MemoryFile(png) as mem, mem.open() as image:
            return np.moveaxis(image.read(), 0, -1)      # (rows, cols, 4)


def pixel(z: int, x: int, y: int, lon: float, lat: float) -> tuple[int, int]:
    xmin, ymin, xmax, ymax = tile_bounds(z, x, y)
    mx = EARTH_RADIUS_M * math.radians(lon)
    my = EARTH_RADIUS_M * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return int((ymax - my) / (ymax - ymin) * 256), int((mx - xmin) / (xmax - xmin) * 256)


def test_a_tile_is_red_where_the_grid_warns_and_transparent_elsewhere(client, nowcast):
    x, y = tile_for(*WET, ZOOM)
    assert tile_for(*DRY, ZOOM) == (x, y)
    response = client.get(f"/tiles/nowcast/{ZOOM}/{x}/{y}.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert "max-age" in response.headers["cache-control"] and response.headers["etag"]
    image = rgba(response.content)
    assert image[pixel(ZOOM, x, y, *WET)].tolist() == RED
    assert image[pixel(ZOOM, x, y, *DRY)][3] == 0
    assert (image[..., 3] == 255).any() and (image[..., 3] == 0).any()

    again = client.get(f"/tiles/nowcast/{ZOOM}/{x}/{y}.png",
                       headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_tiles_away_from_the_grid_or_before_any_nowcast_are_empty(client, nowcast):
    x, y = tile_for(116.4, 39.9, ZOOM)                     # Beijing: outside the grid
    assert client.get(f"/tiles/nowcast/{ZOOM}/{x}/{y}.png").content == empty_tile()
    forecast = client.get(f"/tiles/nowcast/{ZOOM}/{x}/{y}.png?kind=forecast")
    assert forecast.status_code == 200 and forecast.content == empty_tile()
    missing = client.get("/tiles/nowcast/3/8/1.png")
    assert missing.status_code == 404 and "x and y run 0..7" in missing.json()["detail"]


def test_the_cog_download_is_the_published_grid_and_serves_ranges(client, nowcast):
    response = client.get("/nowcast/latest.tif")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/tiff")
    with MemoryFile(response.content) as mem, mem.open() as served, \
            rasterio.open(nowcast) as published:
        assert (served.read(1) == published.read(1)).all()
        assert served.transform == published.transform
    head = client.get("/nowcast/latest.tif", headers={"Range": "bytes=0-3"})
    assert head.status_code == 206 and head.content in (b"II*\x00", b"II+\x00")


def test_without_a_nowcast_the_download_says_why(client):
    for kind in ("observed", "forecast"):
        response = client.get(f"/nowcast/latest.tif?kind={kind}")
        assert response.status_code == 404
        assert f"no {kind} nowcast yet" in response.json()["detail"]
    body = client.get("/nowcast/counties").json()
    assert body == {"kind": "observed", "run": None, "counties": []}


def test_county_summaries_with_province_and_level_filters(client, nowcast):
    body = client.get("/nowcast/counties").json()
    assert body["run"]["kind"] == "observed" and body["run"]["evidence"]["cells_by_level"]["red"]
    counties = {c["adcode"]: c for c in body["counties"]}
    wet_county = Boundaries.load().assign(np.array([WET[0]]), np.array([WET[1]])).county_adcode[0]
    assert counties[wet_county]["max_level"] == "red" and counties[wet_county]["tier"] == "I"
    assert counties[wet_county]["threatened_population"] == 100
    assert sum(counties[wet_county]["shares"].values()) == pytest.approx(1.0)

    red = client.get("/nowcast/counties", params={"min_level": "I", "province": "510000"}).json()
    assert wet_county in {c["adcode"] for c in red["counties"]}
    assert {c["max_level"] for c in red["counties"]} == {"red"}
    by_name = client.get("/nowcast/counties", params={"province": "四川省"}).json()
    assert len(by_name["counties"]) == len([c for c in body["counties"]
                                            if c["province_adcode"] == "510000"])
    bad = client.get("/nowcast/counties", params={"min_level": "purple"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "min_level"]


def test_county_summaries_are_scoped_to_the_callers_provinces(api, nowcast):
    national = api.get("/nowcast/counties", headers=bearer("national")).json()["counties"]
    provinces = {c["province_adcode"] for c in national}
    assert {"510000", "500000"} <= provinces          # the grid reaches into Chongqing
    sichuan = api.get("/nowcast/counties", headers=bearer("sichuan")).json()["counties"]
    assert sichuan == [c for c in national if c["province_adcode"] == "510000"]
    assert api.get("/nowcast/counties", headers=bearer("yunnan")).json()["counties"] == [
        c for c in national if c["province_adcode"] == "530000"]
    assert api.get("/nowcast/counties", headers=bearer("analyst")).json()["counties"] == national
    for province in ("500000", "重庆市", "Chongqing"):
        denied = api.get("/nowcast/counties", headers=bearer("sichuan"),
                         params={"province": province})
        assert denied.status_code == 403
        assert denied.json()["detail"] == ("provincial officer of 510000 may not read nowcast "
                                           "summaries of 500000")
    assert api.get("/nowcast/counties", headers=bearer("gateway")).status_code == 403
