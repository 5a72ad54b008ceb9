"""Landslide susceptibility over a grid: slope from a DEM and a weighted factor overlay.

The regional nowcast (``warning_models.nowcast``) asks where the ground is
prone to fail before asking where it rained. As in NASA's LHASA, that answer
is a static susceptibility index built from slope and other factor layers
(lithology, distance to faults, road cuts, forest loss ...), each mapped to
0..1 and combined with weights (Stanley & Kirschbaum 2017 use a heuristic
fuzzy overlay in which slope dominates). A province that has its own
susceptibility map supplies it instead, and only slope is computed here.

Slope follows Horn (1981): the 3x3 weighted finite difference that GDAL's
``gdaldem slope`` uses. Cell sizes must be in metres; geographic grids give
their cell sizes in degrees, converted per row with the WGS84 radii of
curvature (``geographic_cell_size_m``). Edges are computed by linear
extrapolation of the border (a plane keeps its slope up to the edge), and any
NaN in a 3x3 window makes the slope NaN: no-data stays no-data.

References:
    Horn, B.K.P. (1981). Hill shading and the reflectance map. Proceedings
        of the IEEE 69(1), 14-47.
    Stanley, T., Kirschbaum, D.B. (2017). A heuristic approach to global
        landslide susceptibility mapping. Natural Hazards 87, 145-164.
    Kirschbaum, D., Stanley, T. (2018). Satellite-based assessment of
        rainfall-triggered landslide hazard for situational awareness.
        Earth's Future 6, 505-523.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

MODEL_NAME = "susceptibility"
MODEL_VERSION = "susceptibility-1.0"
CITATION = ("Horn (1981) Proc. IEEE 69:14-47; Stanley & Kirschbaum (2017) Nat. Hazards "
            "87:145-164")

WGS84_A = 6378137.0                 # semi-major axis (m)
WGS84_F = 1 / 298.257223563         # flattening
WGS84_E2 = WGS84_F * (2 - WGS84_F)  # first eccentricity squared


class FactorLayer(BaseModel):
    """How one layer maps to 0..1: ``low`` -> 0, ``high`` -> 1, linear between, clipped.

    ``low > high`` inverts the factor (e.g. distance to a fault: near is worse).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(1.0, gt=0, le=100, allow_inf_nan=False)
    low: float = Field(..., allow_inf_nan=False)
    high: float = Field(..., allow_inf_nan=False)

    @model_validator(mode="after")
    def _distinct(self) -> FactorLayer:
        if self.low == self.high:
            raise ValueError(f"factor low and high must differ, both are {self.low}")
        return self


class SusceptibilityParams(BaseModel):
    """Slope membership (degrees) and any further factor layers by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slope: FactorLayer = FactorLayer(weight=1.0, low=5.0, high=40.0)
    factors: dict[str, FactorLayer] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> SusceptibilityParams:
        if "slope" in self.factors:
            raise ValueError("'slope' is configured in the slope field, not among factors")
        return self

    @property
    def required_inputs(self) -> tuple[str, ...]:
        """Layers ``susceptibility_index`` needs: slope_deg and every configured factor."""
        return ("slope_deg", *sorted(self.factors))


def geographic_cell_size_m(lat_deg: np.ndarray | float, dlon_deg: float,
                           dlat_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """East-west and north-south size (m) of a cell of ``dlon_deg`` x ``dlat_deg`` at ``lat_deg``.

    dx = N(phi) cos(phi) dlon, dy = M(phi) dlat, with the WGS84 prime-vertical
    (N) and meridional (M) radii of curvature.
    """
    phi = np.deg2rad(np.asarray(lat_deg, dtype=float))
    w = 1 - WGS84_E2 * np.sin(phi) ** 2
    n = WGS84_A / np.sqrt(w)
    m = WGS84_A * (1 - WGS84_E2) / w ** 1.5
    dx = n * np.cos(phi) * np.deg2rad(abs(dlon_deg))
    dy = m * np.deg2rad(abs(dlat_deg))
    return dx, dy


def _per_row(size: np.ndarray | float, rows: int, name: str) -> np.ndarray:
    s = np.asarray(size, dtype=float).reshape(-1)
    if s.size == 1:
        s = np.full(rows, s[0])
    if s.size != rows:
        raise ValueError(f"{name} must be a scalar or one value per row ({rows}), got {s.size}")
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(f"{name} must be positive and finite (metres)")
    return s[:, None]


def _pad_linear(z: np.ndarray) -> np.ndarray:
    """Pad by one cell on each side, extrapolating linearly from the border."""
    p = np.pad(z, 1, mode="edge")
    p[0, 1:-1] = 2 * z[0] - z[1]
    p[-1, 1:-1] = 2 * z[-1] - z[-2]
    p[:, 0] = 2 * p[:, 1] - p[:, 2]
    p[:, -1] = 2 * p[:, -2] - p[:, -3]
    return p


def slope_degrees(dem_m: np.ndarray, dx_m: np.ndarray | float,
                  dy_m: np.ndarray | float) -> np.ndarray:
    """Slope (degrees, 0..90) of a DEM (m) by Horn (1981).

    ``dx_m``/``dy_m`` are cell sizes in metres: scalars, or one value per row
    for geographic grids (see ``geographic_cell_size_m``). Rows run north to
    south; the sign of either axis does not change the slope.
    """
    z = np.asarray(dem_m, dtype=float)
    if z.ndim != 2 or min(z.shape) < 2:
        raise ValueError(f"the DEM must be a 2-D grid of at least 2 x 2 cells, got {z.shape}")
    dx = _per_row(dx_m, z.shape[0], "dx_m")
    dy = _per_row(dy_m, z.shape[0], "dy_m")
    p = _pad_linear(z)
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * dx)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * dy)
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    return np.where(np.isnan(z), np.nan, slope)    # Horn's kernel skips the centre cell


def membership(values: np.ndarray, layer: FactorLayer) -> np.ndarray:
    """``values`` mapped linearly from ``layer.low`` (0) to ``layer.high`` (1), clipped; NaN stays."""
    x = np.asarray(values, dtype=float)
    return np.clip((x - layer.low) / (layer.high - layer.low), 0.0, 1.0)


def susceptibility_index(slope_deg: np.ndarray, factors: Mapping[str, np.ndarray] | None = None,
                         params: SusceptibilityParams | None = None) -> np.ndarray:
    """Weighted mean of the layers' memberships, 0 (stable) .. 1 (most susceptible).

    Every configured factor must be supplied (a missing layer is an error,
    not a silent zero); NaN in any layer gives NaN.
    """
    params = params or SusceptibilityParams()
    factors = factors or {}
    missing = sorted(set(params.factors) - set(factors))
    if missing:
        raise KeyError(f"susceptibility needs the factor layer(s) {missing}; "
                       f"configured: {sorted(params.factors)}")
    slope = np.asarray(slope_deg, dtype=float)
    total = params.slope.weight * membership(slope, params.slope)
    weight = params.slope.weight
    for name, layer in params.factors.items():
        values = np.asarray(factors[name], dtype=float)
        if values.shape != slope.shape:
            raise ValueError(f"factor {name!r} has shape {values.shape}, slope {slope.shape}")
        total = total + layer.weight * membership(values, layer)
        weight += layer.weight
    return total / weight
