"""Demo risk points: where they lie, what they carry, and the file round trip."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from geo.boundaries import Boundaries
from geo.demo_data import generate_demo_points, write_points
from geo.importers import read_risk_points
from geo.registry import HazardType, RiskPoint
from streams.units import SensorKind

HAZARD_PROVINCES = {"510000", "530000", "520000", "620000", "500000", "420000", "610000",
                    "430000", "540000", "450000"}
SENSOR_RULES = {
    HazardType.LANDSLIDE: lambda kinds: (kinds[SensorKind.GNSS] >= 1
                                         and kinds[SensorKind.CRACK] + kinds[SensorKind.EXTENSOMETER] == 1
                                         and kinds[SensorKind.RAIN_GAUGE] == 1),
    HazardType.DEBRIS_FLOW: lambda kinds: kinds == Counter({SensorKind.MUD_LEVEL: 1,
                                                            SensorKind.RAIN_GAUGE: 1}),
    HazardType.COLLAPSE: lambda kinds: kinds == Counter({SensorKind.CRACK: 1, SensorKind.TILT: 1}),
    HazardType.SUBSIDENCE: lambda kinds: kinds == Counter({SensorKind.GNSS: 1}),
    HazardType.GROUND_FISSURE: lambda kinds: kinds == Counter({SensorKind.CRACK: 1}),
}


@pytest.fixture(scope="module")
def many(boundaries: Boundaries) -> list[RiskPoint]:
    return generate_demo_points(50_000, seed=0, boundaries=boundaries)


def test_50k_points_lie_inside_the_territory(many: list[RiskPoint], boundaries: Boundaries) -> None:
    points = many
    assert len(points) == 50_000
    lon = np.array([p.lon for p in points])
    lat = np.array([p.lat for p in points])
    assert boundaries.contains(lon, lat).all()
    assert all(p.province_adcode and p.county_adcode for p in points)


def test_points_concentrate_in_the_hazard_provinces(many: list[RiskPoint]) -> None:
    points = many
    provinces = Counter(p.province_adcode for p in points)
    assert sum(provinces[c] for c in HAZARD_PROVINCES) / len(points) > 0.8
    assert provinces.most_common(1)[0][0] == "510000"
    assert provinces["110000"] == 0   # Beijing is not a hazard province
    hazards = Counter(p.hazard_type for p in points)
    assert hazards.most_common(1)[0][0] is HazardType.LANDSLIDE
    assert set(hazards) == set(HazardType)


def test_ids_people_and_sensors_are_plausible(many: list[RiskPoint]) -> None:
    points = many
    assert len({p.id for p in points}) == len(points)
    assert all(p.id.startswith(f"GD-{p.province_adcode}-") for p in points)
    assert all(1 <= p.households <= p.threatened_people for p in points)
    assert 10 < np.median([p.threatened_people for p in points]) < 100
    for p in points:
        ids = [s.sensor_id for s in p.sensors]
        assert len(ids) == len(set(ids)), p.id
        assert SENSOR_RULES[p.hazard_type](Counter(s.kind for s in p.sensors)), p.id
    assert all(p.county in p.name for p in points[:100])


def test_same_seed_same_points_other_seed_other_points(boundaries: Boundaries) -> None:
    first = generate_demo_points(500, seed=3, boundaries=boundaries)
    assert generate_demo_points(500, seed=3, boundaries=boundaries) == first
    other = generate_demo_points(500, seed=4, boundaries=boundaries)
    assert [(p.lon, p.lat) for p in other] != [(p.lon, p.lat) for p in first]


@pytest.mark.parametrize(("suffix", "n"), [(".csv", 50_000), (".geojson", 5_000)])
def test_points_round_trip_through_a_file(many: list[RiskPoint], boundaries: Boundaries,
                                          tmp_path: Path, suffix: str, n: int) -> None:
    points = many[:n]
    path = write_points(points, tmp_path / f"demo{suffix}")
    report = read_risk_points(path, boundaries=boundaries)
    assert report.rejected == []
    assert report.points == points


def test_write_points_refuses_unknown_suffixes(boundaries: Boundaries, tmp_path: Path) -> None:
    points = generate_demo_points(2, boundaries=boundaries)
    with pytest.raises(ValueError, match=r"use a \.geojson, \.json or \.csv file name"):
        write_points(points, tmp_path / "demo.kml")
