"""GDAL reads /ogc: Debian's ``ogrinfo`` (OAPIF driver) against the API served by uvicorn.

The API runs in a thread on a free port over a seeded SQLite database; the
test counts what GDAL lists and reads against the database itself. Needs
``ogrinfo`` (Debian's gdal-bin): ``make system-deps`` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.app import create_app
from geowarn.settings import Settings
from store.db import make_engine
from store.migrate import upgrade
from store.tables import CandidateAreaRow, RiskPointRow, WarningRow
from tests.api.area_seed import SICHUAN_AREAS, seed_areas
from tests.api.seed import TOKENS, seed

OGRINFO = shutil.which("ogrinfo")
STARTUP_SECONDS = 30.0
"""How long to wait for uvicorn to listen before giving up (a limit, not a measurement)."""
COLLECTIONS = ("risk_points", "warnings", "candidate_areas")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('gdal') / 'geowarn.db'}"
    upgrade(url)
    engine = make_engine(url)
    seed(engine)
    seed_areas(engine)
    engine.dispose()
    yield url


@pytest.fixture(scope="module")
def ogc_url(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API on 127.0.0.1:<free port>; the lifespan is off, so no broker is needed."""
    app = create_app(Settings(database_url=database, kafka_bootstrap="127.0.0.1:9",
                              data_dir=tmp_path_factory.mktemp("var")))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/ogc"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)
        listener.close()
        app.state.engine.dispose()


def run_ogrinfo(*args: str, token: str | None = TOKENS["national"]
                ) -> subprocess.CompletedProcess[str]:
    """ogrinfo read-only, sending the API token as GIS users configure it (GDAL_HTTP_HEADERS)."""
    assert OGRINFO, "ogrinfo not found: run `make system-deps` (Debian's gdal-bin)"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "GDAL_HTTP_TIMEOUT": "30", "CPL_DEBUG": "OFF"}
    env.pop("GDAL_HTTP_HEADERS", None)
    if token is not None:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: Bearer {token}"
    return subprocess.run([OGRINFO, "-ro", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def ogrinfo(*args: str) -> str:
    done = run_ogrinfo(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def database_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        counts = {"risk_points": session.scalar(select(func.count()).select_from(RiskPointRow)),
                  "warnings": session.scalar(select(func.count()).select_from(WarningRow)),
                  "candidate_areas": session.scalar(
                      select(func.count()).select_from(CandidateAreaRow))}
    engine.dispose()
    return counts


def feature_ids(output: str) -> list[str]:
    """The ``id`` field of every feature ogrinfo printed, in order."""
    return re.findall(r"^\s+id \(String\) = (\S+)$", output, flags=re.MULTILINE)


def test_ogrinfo_lists_every_collection_with_the_database_count(ogc_url: str,
                                                                database: str) -> None:
    summary = ogrinfo("-al", "-so", f"OAPIF:{ogc_url}")
    layers = re.findall(r"^Layer name: (\S+)$", summary, flags=re.MULTILINE)
    counts = [int(n) for n in re.findall(r"^Feature Count: (\d+)$", summary, flags=re.MULTILINE)]
    assert layers == list(COLLECTIONS)
    assert dict(zip(layers, counts, strict=True)) == database_counts(database)
    assert database_counts(database)["candidate_areas"] == 3
    assert "Extent: (100.200000, 25.000000) - (106.500000, 31.000000)" in summary


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_ogrinfo_reads_every_feature_of_each_collection(ogc_url: str, database: str,
                                                        collection: str) -> None:
    output = ogrinfo(f"OAPIF:{ogc_url}", collection)
    expected = database_counts(database)[collection]
    assert len(re.findall(rf"^OGRFeature\({collection}\):", output, flags=re.MULTILINE)) == \
        expected
    assert len(set(feature_ids(output))) == expected


def test_ogrinfo_follows_next_links_page_by_page(ogc_url: str, database: str) -> None:
    output = ogrinfo("-oo", "PAGE_SIZE=2", f"OAPIF:{ogc_url}", "risk_points")
    assert feature_ids(output) == ["P1", "P2", "P3", "P4", "P5"]
    assert "POLYGON ((106.4 29.4,106.6 29.4,106.6 29.6,106.4 29.4))" in output


def test_ogrinfo_filters_with_a_box_and_an_attribute(ogc_url: str) -> None:
    output = ogrinfo("-spat", "100", "24", "104", "32", "-where", "hazard_type = 'landslide'",
                     f"OAPIF:{ogc_url}", "risk_points")
    assert feature_ids(output) == ["P1"]



def test_without_the_token_gdal_cannot_open_it(ogc_url: str) -> None:
    done = run_ogrinfo("-so", f"OAPIF:{ogc_url}", "risk_points", token=None)
    assert done.returncode != 0
    assert "401" in done.stderr


def test_a_provincial_token_reads_its_provinces_only(ogc_url: str) -> None:
    done = run_ogrinfo(f"OAPIF:{ogc_url}", "risk_points", token=TOKENS["sichuan"])
    assert done.returncode == 0, done.stderr
    assert feature_ids(done.stdout) == ["P1", "P2"]


def test_ogrinfo_reads_candidate_areas_with_their_polygons_and_scope(ogc_url: str) -> None:
    output = ogrinfo("-where", "status = 'candidate'", f"OAPIF:{ogc_url}", "candidate_areas")
    assert feature_ids(output) == ["AS1", "AS2"]
    assert "POLYGON ((103.5 31.4,103.56 31.4,103.56 31.41," in output
    assert "peak_velocity_mm_yr (Real) = -31.5" in output
    done = run_ogrinfo(f"OAPIF:{ogc_url}", "candidate_areas", token=TOKENS["sichuan"])
    assert done.returncode == 0, done.stderr
    assert feature_ids(done.stdout) == list(SICHUAN_AREAS)
