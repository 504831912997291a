"""Sentinel-2 L2A-like surface reflectance from an NDVI map (pure numpy/scipy).

Each clear pixel is a linear mixture of two endmember spectra, bare loess
soil and a dense green canopy (surface reflectance of B02 B03 B04 B08 B11 B12;
values typical of the USGS spectral library / ASTER library for loess and
crop canopies):

=========  =====  =====  =====  =====  =====  =====
endmember  B02    B03    B04    B08    B11    B12
=========  =====  =====  =====  =====  =====  =====
soil       0.100  0.140  0.180  0.250  0.340  0.300   (NDVI 0.16)
canopy     0.030  0.070  0.030  0.450  0.200  0.100   (NDVI 0.88)
=========  =====  =====  =====  =====  =====  =====

The vegetation fraction is solved so that the mixture has exactly the target
NDVI (NDVI is a ratio, so the fraction is the root of a linear equation);
soil brightness varies with organic carbon and moisture (x0.85-1.1).

Clouds: a smooth random field (Gaussian-filtered noise, ~1 km blobs) whose
upper ``cloud_fraction`` quantile is cloud; its optical thickness sets the
class (thin cirrus SCL 10 at the edges, medium 8, high probability 9) and the
blend with a bright cloud spectrum; shadows are the cloud mask displaced
towards the north-west (sun in the south-east at the 10:30 overpass), SCL 3,
reflectance x0.35. Some acquisitions lie on the swath edge: a corner has no
data (DN 0, SCL 0). DN = round(reflectance x 10000 + 1000) (processing
baseline >= 04.00).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B11", "B12")
SOIL = np.array([0.10, 0.14, 0.18, 0.25, 0.34, 0.30], dtype=np.float32)
CANOPY = np.array([0.03, 0.07, 0.03, 0.45, 0.20, 0.10], dtype=np.float32)
CLOUD = np.array([0.55, 0.55, 0.56, 0.60, 0.45, 0.35], dtype=np.float32)
BOA_ADD_OFFSET = 1000


def vegetation_fraction(ndvi: np.ndarray, soil: np.ndarray = SOIL,
                        canopy: np.ndarray = CANOPY) -> np.ndarray:
    """Canopy fraction f so that the soil/canopy mixture has NDVI ``ndvi`` (red B04, NIR B08)."""
    rs, ns, rv, nv = soil[2], soil[3], canopy[2], canopy[3]
    num = (ns - rs) - ndvi * (ns + rs)
    den = ndvi * ((nv - ns) + (rv - rs)) - ((nv - ns) - (rv - rs))
    return np.clip(num / den, 0.0, 1.0)


def cloud_field(shape: tuple[int, int], res: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth 0-mean random field (unit std) with ~1 km correlation length."""
    coarse = max(4, int(shape[0] * res / 250))
    small = rng.normal(0, 1, (coarse, coarse)).astype(np.float32)
    small = ndimage.gaussian_filter(small, 1.5, mode="wrap")
    field = ndimage.zoom(small, (shape[0] / coarse, shape[1] / coarse), order=1)[: shape[0], : shape[1]]
    return (field - field.mean()) / (field.std() + 1e-6)


def render_scene(ndvi: np.ndarray, brightness: np.ndarray, cloud_fraction: float,
                 res: float, rng: np.random.Generator, *, swath_edge: bool
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Reflectance DNs of all bands at 10 m (uint16), SCL at 10 m and the cloud cover (%).

    Bands are computed one at a time so that peak memory is a few full-size
    float32 layers, whatever the number of bands.
    """
    h, w = ndvi.shape
    frac = vegetation_fraction(ndvi).astype(np.float32)
    scl = np.where(ndvi > 0.3, 4, 5).astype(np.uint8)
    cover = 0.0
    cloud = shadow = alpha = None
    if cloud_fraction > 0.005:
        field = cloud_field((h, w), res, rng)
        thr = np.quantile(field[::4, ::4], 1 - cloud_fraction)
        cloud = field > thr
        thickness = np.clip(field - thr, 0, 1)
        alpha = (0.35 + 0.65 * thickness).astype(np.float32)
        shift = int(rng.uniform(15, 40) * 10 / res)
        shadow = np.zeros_like(cloud)
        shadow[:-shift, :-shift] = cloud[shift:, shift:]
        shadow &= ~cloud
        scl[shadow] = 3
        scl[cloud] = np.where(thickness[cloud] < 0.1, 10, np.where(thickness[cloud] < 0.4, 8, 9))
        cover = float(cloud.mean() * 100)
        del field, thickness
    outside = None
    if swath_edge:
        rows = np.arange(h, dtype=np.float32)[:, None]
        cols = np.arange(w, dtype=np.float32)[None, :]
        outside = (cols + rng.uniform(0.3, 0.8) * w - rows * rng.uniform(0.2, 0.6)) < w * 0.45
        scl[outside] = 0
    bands = {}
    for b, name in enumerate(BANDS_10M + BANDS_20M):
        refl = frac * CANOPY[b] + (1 - frac) * (SOIL[b] * brightness)
        refl += rng.normal(0, 0.004, refl.shape).astype(np.float32)
        if cloud is not None and shadow is not None and alpha is not None:
            refl[shadow] *= 0.35
            refl[cloud] = (1 - alpha[cloud]) * refl[cloud] + alpha[cloud] * CLOUD[b]
        dn = np.clip(np.rint(refl * 10000 + BOA_ADD_OFFSET), 1, 65535).astype(np.uint16)
        if outside is not None:
            dn[outside] = 0
        bands[name] = dn
    return bands, scl, cover


def to_20m(dn: np.ndarray) -> np.ndarray:
    """2x2 mean of a 10 m DN band (nodata 0 kept where any of the four is 0)."""
    h, w = dn.shape
    blocks = dn.reshape(h // 2, 2, w // 2, 2).astype(np.float32)
    mean = blocks.mean(axis=(1, 3))
    nodata = (blocks == 0).any(axis=(1, 3))
    return np.where(nodata, 0, np.rint(mean)).astype(np.uint16)


def scl_to_20m(scl: np.ndarray) -> np.ndarray:
    """SCL at 20 m: the class of the upper-left 10 m pixel of each 2x2 block."""
    return np.ascontiguousarray(scl[::2, ::2])
