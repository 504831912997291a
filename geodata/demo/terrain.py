"""Terrain and soil of a demo region on the 10 m UTM grid (pure numpy/scipy).

DEM = base elevation
      + ``relief`` x fractal surface (random-phase Fourier noise, power
        spectrum ~ k^-3.6, std = 0.3 x relief)
      - ``valley_depth`` x valley network (a sinuous main valley across the
        region and tributary gullies; depth profile exp(-(d/w)^2) of the
        distance d to the thalweg, w = 120 m main / 70 m tributaries)
      + a gentle regional tilt towards the main valley
(``relief`` is scaled by sqrt(extent / 5.12 km) below 5.12 km, since a
smaller window of a landscape spans less relief).

Derived layers used by the crop model and the frost downscaling:
``local_mean`` = mean elevation within a 1 km x 1 km window (the cold-air
pooling reference, see :mod:`geodata.demo.weather`), ``relative = dem -
local_mean`` and the slope (%).

Soil follows the catena: valley bottoms (relative elevation below the local
mean) collect colluvium -> deeper soil, more clay, organic carbon and
available water; steep upper slopes are eroded -> sandier, less AWC. The
regional means are those of SoilGrids 2.0 at the region centre (rounded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as scipy_fft
from scipy import ndimage

from geodata.demo.regions import RegionSpec

#: Side of the window defining the local mean elevation (m).
LOCAL_MEAN_WINDOW_M = 1000.0


@dataclass(frozen=True)
class Terrain:
    """Terrain and soil layers on the analysis grid (all ``(size, size)`` float32)."""

    dem: np.ndarray
    local_mean: np.ndarray
    relative: np.ndarray
    slope_pct: np.ndarray
    valley: np.ndarray       # 0..1, 1 in valley bottoms
    clay: np.ndarray         # g/kg
    sand: np.ndarray         # g/kg
    soc: np.ndarray          # dg/kg
    ph: np.ndarray           # pH
    awc: np.ndarray          # mm/m


def fractal_surface(size: int, rng: np.random.Generator, beta: float = 3.6) -> np.ndarray:
    """Zero-mean, unit-std random surface with isotropic power spectrum ~ k^-beta (float32)."""
    ky = np.fft.fftfreq(size).astype(np.float32)[:, None]
    kx = np.fft.rfftfreq(size).astype(np.float32)[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k[0, 0] = 1.0
    amplitude = k ** np.float32(-beta / 2.0)
    amplitude[0, 0] = 0.0
    del k
    phase = rng.uniform(0, 2 * np.pi, amplitude.shape).astype(np.float32)
    spectrum = (amplitude * np.exp(1j * phase)).astype(np.complex64)
    del amplitude, phase
    field = scipy_fft.irfft2(spectrum, s=(size, size)).astype(np.float32)
    field -= field.mean()
    field /= field.std() + 1e-12
    return field


def _draw_path(mask: np.ndarray, x0: float, y0: float, angle: float, length: float,
               rng: np.random.Generator, wiggle: float) -> list[tuple[float, float]]:
    """Rasterise a meandering path (pixel units) into ``mask``; returns its points."""
    size = mask.shape[0]
    points = []
    x, y = x0, y0
    step = 1.0
    for _ in range(int(length / step)):
        angle += rng.normal(0.0, wiggle)
        x += step * np.cos(angle)
        y += step * np.sin(angle)
        if not (0 <= x < size and 0 <= y < size):
            break
        mask[int(y), int(x)] = True
        points.append((x, y))
    return points


def valley_network(size: int, res: float, rng: np.random.Generator) -> np.ndarray:
    """Valley depth profile in 0..1 (1 on the thalweg) of a main valley and tributary gullies.

    Computed on a grid 4x coarser (40 m at 10 m) and interpolated: the valley
    profiles are 70-120 m wide, so nothing is lost, and memory stays small.
    """
    step = 4
    n = -(-size // step)
    cres = res * step
    main = np.zeros((n, n), dtype=bool)
    tribs = np.zeros((n, n), dtype=bool)
    y0 = n * rng.uniform(0.35, 0.65)
    pts = _draw_path(main, 0.0, y0, rng.normal(0, 0.15), n * 2, rng, 0.04)
    n_trib = max(3, int(6 * size * res / 5120))
    for _ in range(n_trib):
        x, y = pts[int(rng.uniform(0.05, 0.95) * (len(pts) - 1))]
        side = rng.choice([-1.0, 1.0])
        angle = side * np.pi / 2 + rng.normal(0, 0.35)
        trib_pts = _draw_path(tribs, x, y, angle, n * rng.uniform(0.25, 0.5), rng, 0.1)
        for _ in range(2):  # second-order gullies
            if len(trib_pts) > 5:
                bx, by = trib_pts[int(rng.uniform(0.3, 0.9) * (len(trib_pts) - 1))]
                _draw_path(tribs, bx, by, angle + rng.choice([-1, 1]) * rng.uniform(0.6, 1.2),
                           n * rng.uniform(0.08, 0.2), rng, 0.12)
    d_main = ndimage.distance_transform_edt(~main).astype(np.float32) * cres
    d_trib = (ndimage.distance_transform_edt(~tribs).astype(np.float32) * cres if tribs.any()
              else np.full_like(d_main, 1e9))
    coarse = np.maximum(np.exp(-(d_main / 120.0) ** 2), 0.6 * np.exp(-(d_trib / 70.0) ** 2))
    fine = ndimage.zoom(coarse.astype(np.float32), step, order=1, grid_mode=True, mode="nearest")
    return np.ascontiguousarray(fine[:size, :size], dtype=np.float32)


def make_terrain(spec: RegionSpec, size: int, res: float, rng: np.random.Generator) -> Terrain:
    """DEM, relief derivatives and catena soils for ``spec`` on a ``size`` x ``size`` grid of ``res`` m."""
    hills = fractal_surface(size, rng)
    valleys = valley_network(size, res, rng)
    yy = np.linspace(-1.0, 1.0, size, dtype=np.float32)[:, None]
    # relief seen within a small window is smaller than the regional one
    relief = spec.relief * min(1.0, float(np.sqrt(size * res / 5120.0)))
    dem = (spec.base_elevation + 0.3 * relief * (hills + 1.5)
           - spec.valley_depth * valleys + 0.15 * relief * np.abs(yy)).astype(np.float32)
    window = max(3, int(round(LOCAL_MEAN_WINDOW_M / res)) | 1)
    local_mean = ndimage.uniform_filter(dem, size=window, mode="reflect").astype(np.float32)
    relative = dem - local_mean
    gy, gx = np.gradient(dem, res)
    slope = (100.0 * np.hypot(gx, gy)).astype(np.float32)
    valley = np.clip(-relative / 30.0, 0.0, 1.0)
    valley = ndimage.gaussian_filter(np.maximum(valley, valleys), 3).astype(np.float32)
    upper = np.clip(relative / 30.0, 0.0, 1.0) * np.clip(slope / 30.0, 0.0, 1.0)
    texture = ndimage.gaussian_filter(rng.standard_normal((size, size), dtype=np.float32), 8)
    texture /= texture.std() + 1e-6
    clay = spec.soil_clay * (1 + 0.35 * valley - 0.15 * upper + 0.05 * texture)
    sand = spec.soil_sand * (1 - 0.25 * valley + 0.25 * upper - 0.05 * texture)
    soc = spec.soil_soc * (1 + 0.6 * valley - 0.3 * upper + 0.05 * texture)
    ph = spec.soil_ph - 0.3 * valley + 0.1 * upper + 0.03 * texture
    awc = spec.soil_awc * (1 + 0.35 * valley - 0.3 * upper + 0.04 * texture)
    f32 = np.float32
    return Terrain(dem, local_mean, relative.astype(f32), slope, valley, clay.astype(f32),
                   sand.astype(f32), soc.astype(f32), ph.astype(f32), awc.astype(f32))
