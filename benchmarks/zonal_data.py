"""Synthetic data with known answers for the zonal-statistics benchmark (pure, no I/O).

The raster is a linear ramp ``z(x, y) = c + a*x + b*y`` sampled at pixel
centres. For any polygon the exact area mean of a linear function is its value
at the polygon's centroid (the centroid is the area mean of ``x`` and ``y``), so
every field's true mean is known analytically from shapely's centroid: no
reference implementation is needed to judge accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import Polygon, box

M2_PER_HA = 10_000.0


@dataclass(frozen=True)
class Ramp:
    """``z = c + a*x + b*y`` with x, y in the raster's CRS units (metres)."""

    a: float = 0.02
    b: float = 0.01
    c: float = 100.0

    def at(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray | float:
        return self.c + self.a * x + self.b * y

    def raster(
        self, transform: Affine, height: int, width: int, dtype: str = "float32"
    ) -> np.ndarray:
        """The ramp sampled at every pixel centre of a north-up grid."""
        cols = np.arange(width) + 0.5
        rows = np.arange(height) + 0.5
        xs = transform.c + transform.a * cols
        ys = transform.f + transform.e * rows
        return np.asarray(self.at(xs[None, :], ys[:, None]), dtype=dtype)

    def exact_means(self, polygons: np.ndarray) -> np.ndarray:
        """The exact area mean of the ramp over each polygon: its value at the centroid."""
        centroids = shapely.centroid(polygons)
        return np.asarray(
            self.at(shapely.get_x(centroids), shapely.get_y(centroids)), dtype="float64"
        )


def rotated_rectangle(
    area_m2: float, aspect: float, angle_deg: float, cx: float, cy: float
) -> Polygon:
    """A rectangle of the given area and length/width ratio, rotated about its centre."""
    width = math.sqrt(area_m2 * aspect)
    height = area_m2 / width
    rect = box(-width / 2, -height / 2, width / 2, height / 2)
    rect = shapely.affinity.rotate(rect, angle_deg, origin=(0, 0))
    return shapely.affinity.translate(rect, cx, cy)


def irregular_polygon(area_m2: float, rng: np.random.Generator, cx: float, cy: float) -> Polygon:
    """A star-shaped (hence simple) polygon of 7-12 vertices scaled to exactly ``area_m2``."""
    n = int(rng.integers(7, 13))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(0.55, 1.0, n)
    poly = Polygon(np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))
    scale = math.sqrt(area_m2 / poly.area)
    poly = shapely.affinity.scale(poly, scale, scale, origin=(0, 0))
    return shapely.affinity.translate(poly, cx, cy)


def make_fields(
    count: int,
    area_ha: float,
    bounds: tuple[float, float, float, float],
    seed: int,
) -> np.ndarray:
    """``count`` fields of ``area_ha`` hectares inside ``bounds``: half rotated rectangles, half irregular.

    Fields may overlap each other (zonal statistics treat each independently);
    each lies wholly inside ``bounds`` so no field touches nodata.
    """
    rng = np.random.default_rng(seed)
    area = area_ha * M2_PER_HA
    xmin, ymin, xmax, ymax = bounds
    out = np.empty(count, dtype=object)
    for i in range(count):
        if i % 2 == 0:
            shape = rotated_rectangle(area, rng.uniform(1, 3), rng.uniform(0, 180), 0.0, 0.0)
        else:
            shape = irregular_polygon(area, rng, 0.0, 0.0)
        sx0, sy0, sx1, sy1 = shape.bounds
        if sx1 - sx0 >= xmax - xmin or sy1 - sy0 >= ymax - ymin:
            raise ValueError(f"a {area_ha} ha field does not fit in bounds {bounds}")
        cx = rng.uniform(xmin - sx0, xmax - sx1)
        cy = rng.uniform(ymin - sy0, ymax - sy1)
        out[i] = shapely.affinity.translate(shape, cx, cy)
    return out


def accuracy(
    means: np.ndarray, areas_m2: np.ndarray, exact_means: np.ndarray, exact_areas_m2: np.ndarray
) -> dict[str, float]:
    """Mean and max absolute error of the field means, and the mean relative area error (%)."""
    err = np.abs(np.asarray(means, dtype="float64") - exact_means)
    area_err = np.abs(np.asarray(areas_m2, dtype="float64") - exact_areas_m2) / exact_areas_m2 * 100
    return {
        "mean_abs_error": float(np.nanmean(err)),
        "max_abs_error": float(np.nanmax(err)),
        "missing": int(np.count_nonzero(~np.isfinite(err))),
        "area_error_pct": float(np.nanmean(area_err)),
    }
