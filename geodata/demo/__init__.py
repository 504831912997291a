"""The embedded demo-region generator (``nongshu demo-data``).

Writes every input of ``docs/DATA_LAYOUT.md`` for two regions, ``dingxi``
(Anding District, Dingxi, Gansu: semi-arid loess hills, potato, spring
wheat, maize) and ``lhasa`` (Lhasa river valley, Tibet, ~3650 m: highland
barley, winter wheat), in the real products' formats: Sentinel-2 L2A COGs and
a STAC ItemCollection, ERA5-Land-like CF NetCDF, SoilGrids-like soil and a
Copernicus-DEM-like terrain GeoTIFF, pest traps (GeoJSON), fields and
townships (GeoPackage), yield history and farm operations (CSV).

The data are physically motivated, not noise. The models and their
parameters are documented where they live:

* :mod:`geodata.demo.terrain`  loess DEM with valley network, catena soils;
* :mod:`geodata.demo.weather`  daily weather generator (annual cycle, lapse
  rate, AR(1), Markov-chain/gamma rain, storms, drought/wet seasons, forced
  frost nights and blight spells) and the frost downscaling rule (cold-air
  pooling in valleys);
* :mod:`geodata.demo.fields`   parcels, townships, cooperatives, irrigation;
* :mod:`geodata.demo.crops`    thermal time, water balance, frost/heat/blight
  stress, LAI, NDVI and yield;
* :mod:`geodata.demo.imagery`  soil/canopy reflectance mixing, clouds and
  shadows, SCL, L2A digital numbers;
* :mod:`geodata.demo.records`  pest traps, farm operations.

How frost shows in the files: each forced frost night is clear and dry
(large diurnal range, no rain) inside a few clear days, so the documented rule
:func:`geodata.demo.weather.downscale_tmin` makes pixels below the local mean
elevation colder than the 0.1° cell value (1 K per 10 m of depth, at most
5 K) although the lapse rate alone would make them warmer. The crop model
runs with that field-level Tmin, so potato and maize fields in valley bottoms
lose more canopy after the late-spring frost than fields of the same crop on
the slopes above: a larger NDVI drop between the last clear acquisition
before and the first after the frost night, and lower yields. The tests
(``tests/geodata/test_demo_science.py``) recompute both from the NetCDF, the
DEM and the Sentinel-2 COGs. (After the early-autumn frost, harvests and
senescence in the same weeks swamp the NDVI signal; it shows in the yields.)

Usage::

    from geodata.demo import generate_region
    generate_region("dingxi", Path("data/demo/dingxi"), size=512, seasons=6, seed=0)

or ``nongshu demo-data --region dingxi --size 512 --out data/demo/dingxi``.
"""

from geodata.demo.generator import GENERATOR_VERSION, generate_region, season_types

__all__ = ["generate_region", "season_types", "GENERATOR_VERSION"]
