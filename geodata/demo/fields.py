"""Field parcels and townships of a demo region (shapely/geopandas, UTM).

Fields: a lattice of corner points every ~240 m (24 px at 10 m) jittered by
up to 30 % of the spacing gives a tessellation of irregular quadrilaterals;
each quad is shrunk by 6 % towards its centroid (field margins, tracks).
Quads on steep ground (mean slope > 35 %, kept as grassland, as Chinese
slope-farmland policy returns > 25° land to grass) and 20 % at random
(villages, orchards, fallow) are not fields. Townships are the Voronoi cells
of a few seed points clipped to the region; a field belongs to the township
of its centroid; cooperatives are spatial clusters within a township.
Irrigation is likely in valley bottoms (river water): probability 0.45 there
and 0.04 elsewhere in Dingxi; 0.85 / 0.5 in the irrigated Lhasa valley.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from rasterio import features
from rasterio.transform import Affine
from shapely import MultiPoint, Polygon, voronoi_polygons
from shapely.affinity import scale
from shapely.geometry import box

from geodata.demo.regions import RegionSpec
from geodata.demo.terrain import Terrain

FIELD_SPACING_PX = 24


def townships(spec: RegionSpec, bounds: tuple[float, float, float, float], epsg: int,
              rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Township polygons: Voronoi cells of jittered seeds, clipped to ``bounds``."""
    xmin, ymin, xmax, ymax = bounds
    n = len(spec.townships)
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 2 * np.pi)
    cx, cy, rx, ry = (xmin + xmax) / 2, (ymin + ymax) / 2, (xmax - xmin) / 3, (ymax - ymin) / 3
    seeds = MultiPoint([(cx + rx * np.cos(a) * rng.uniform(0.7, 1.1),
                         cy + ry * np.sin(a) * rng.uniform(0.7, 1.1)) for a in angles])
    region = box(*bounds)
    cells = list(voronoi_polygons(seeds, extend_to=region.buffer(1e4)).geoms)
    rows = []
    for (tid, zh, en), seed in zip(spec.townships, seeds.geoms, strict=True):
        cell = next(c for c in cells if c.contains(seed))
        rows.append({"township_id": tid, "name_zh": zh, "name_en": en,
                     "geometry": cell.intersection(region)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=f"EPSG:{epsg}")


def make_fields(spec: RegionSpec, terrain: Terrain, transform: Affine, epsg: int,
                towns: gpd.GeoDataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Field polygons with attributes (crop, variety, cooperative, township, irrigated, area)."""
    size = terrain.dem.shape[0]
    res = transform.a
    step = FIELD_SPACING_PX
    n = size // step
    gx = np.arange(n + 1) * step * res
    xs = transform.c + gx[None, :] + rng.uniform(-0.3, 0.3, (n + 1, n + 1)) * step * res
    ys = transform.f - gx[:, None] + rng.uniform(-0.3, 0.3, (n + 1, n + 1)) * step * res
    xs[:, 0], xs[:, -1] = transform.c, transform.c + size * res
    ys[0, :], ys[-1, :] = transform.f, transform.f - size * res
    polys = []
    for i in range(n):
        for j in range(n):
            quad = Polygon([(xs[i, j], ys[i, j]), (xs[i, j + 1], ys[i, j + 1]),
                            (xs[i + 1, j + 1], ys[i + 1, j + 1]), (xs[i + 1, j], ys[i + 1, j])])
            polys.append(scale(quad, 0.94, 0.94, origin="centroid"))
    gdf = gpd.GeoDataFrame({"geometry": polys}, crs=f"EPSG:{epsg}")
    idx = features.rasterize(((g, k + 1) for k, g in enumerate(gdf.geometry)),
                             out_shape=terrain.dem.shape, transform=transform, fill=0,
                             dtype="int32")
    counts = np.bincount(idx.ravel(), minlength=len(gdf) + 1)[1:]
    def zonal(a: np.ndarray) -> np.ndarray:
        sums = np.bincount(idx.ravel(), weights=a.ravel(), minlength=len(gdf) + 1)[1:]
        return sums / np.maximum(counts, 1)
    slope = zonal(terrain.slope_pct)
    valley = zonal(terrain.valley)
    steep_limit = max(35.0, float(np.percentile(slope, 50)))  # tiny, steep regions keep half
    keep = (slope <= steep_limit) & (rng.random(len(gdf)) > 0.2) & (counts > 0)
    gdf = gdf[keep].reset_index(drop=True)
    valley = valley[keep]

    centroids = gdf.geometry.centroid
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=centroids, crs=gdf.crs),
                       towns[["township_id", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    gdf["township"] = joined["township_id"].fillna(towns["township_id"].iloc[0]).to_numpy()

    crops = spec.crops
    shares = np.array([c.share for c in crops]) / sum(c.share for c in crops)
    crop_idx = rng.choice(len(crops), size=len(gdf), p=shares)
    gdf["crop"] = [crops[k].name for k in crop_idx]
    gdf["variety"] = [crops[k].varieties[rng.integers(len(crops[k].varieties))] for k in crop_idx]
    # cooperatives: spatial clusters (west/east half) inside each township
    coop_ids, coop_names = [], []
    town_order = {t: i for i, t in enumerate(towns["township_id"])}
    midx = (transform.c + transform.c + size * res) / 2
    for town, x in zip(gdf["township"], centroids.x, strict=True):
        k = (2 * town_order[town] + int(x > midx)) % len(spec.cooperatives)
        coop_ids.append(f"C{k + 1:02d}")
        coop_names.append(spec.cooperatives[k])
    gdf["cooperative_id"] = coop_ids
    gdf["cooperative_name"] = coop_names
    gdf["irrigated"] = rng.random(len(gdf)) < np.where(valley > 0.4, spec.irrigated_valley,
                                                       spec.irrigated_other)
    gdf["area_ha"] = (gdf.geometry.area / 1e4).round(3)
    gdf.insert(0, "field_id", [f"{spec.id_prefix}-{k + 1:06d}" for k in range(len(gdf))])
    return gdf
