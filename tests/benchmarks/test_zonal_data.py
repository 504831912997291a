"""The analytic answers of the zonal benchmark, checked against brute-force integration."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from shapely.geometry import Polygon

from benchmarks.zonal_data import Ramp, accuracy, irregular_polygon, make_fields, rotated_rectangle


def brute_force_mean(ramp: Ramp, poly: Polygon, n: int = 400) -> float:
    """Mean of the ramp over ``poly`` by sampling an n x n grid of points (independent of centroids)."""
    x0, y0, x1, y1 = poly.bounds
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(xs, ys)
    inside = shapely.contains_xy(poly, gx, gy)
    return float(np.mean(ramp.at(gx[inside], gy[inside])))


def test_exact_mean_is_the_area_mean() -> None:
    ramp = Ramp(a=0.02, b=-0.03, c=5.0)
    rng = np.random.default_rng(3)
    polys = np.array(
        [
            rotated_rectangle(50_000, 2.5, 33, 1_000, 2_000),
            irregular_polygon(80_000, rng, -500, 700),
        ]
    )
    exact = ramp.exact_means(polys)
    for poly, value in zip(polys, exact, strict=True):
        # the sampling error is far below one ramp step across the field
        assert value == pytest.approx(brute_force_mean(ramp, poly), abs=0.05)


def test_triangle_mean_by_hand() -> None:
    # triangle (0,0), (30,0), (0,30): centroid (10, 10) -> 1 + 2*10 + 3*10 = 51
    tri = Polygon([(0, 0), (30, 0), (0, 30)])
    assert Ramp(a=2, b=3, c=1).exact_means(np.array([tri]))[0] == pytest.approx(51.0)


def test_raster_samples_pixel_centres() -> None:
    ramp = Ramp(a=1.0, b=10.0, c=0.0)
    grid = ramp.raster(Affine(10, 0, 100, 0, -10, 50), 2, 3)
    # centres x = 105, 115, 125; y = 45, 35
    np.testing.assert_allclose(
        grid, [[105 + 450, 115 + 450, 125 + 450], [105 + 350, 115 + 350, 125 + 350]]
    )


@pytest.mark.parametrize("area_ha", [0.5, 10.0, 50.0])
def test_fields_have_the_area_and_stay_inside(area_ha: float) -> None:
    bounds = (0.0, 0.0, 5_120.0, 5_120.0)
    fields = make_fields(40, area_ha, bounds, seed=1)
    areas = shapely.area(fields)
    np.testing.assert_allclose(areas, area_ha * 10_000, rtol=1e-9)
    assert shapely.is_valid(fields).all()
    assert shapely.contains(shapely.box(*bounds), fields).all()


def test_fields_that_cannot_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        make_fields(2, 50.0, (0, 0, 300, 300), seed=1)


def test_accuracy_summary() -> None:
    acc = accuracy(
        np.array([1.0, 2.5, np.nan]),
        np.array([100.0, 90.0, 0.0]),
        np.array([1.0, 2.0, 3.0]),
        np.array([100.0, 100.0, 100.0]),
    )
    assert acc["mean_abs_error"] == pytest.approx(0.25)
    assert acc["max_abs_error"] == pytest.approx(0.5)
    assert acc["missing"] == 1
    assert acc["area_error_pct"] == pytest.approx((0 + 10 + 100) / 3)
