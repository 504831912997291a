"""The two demo regions and their crops: every number the generator uses.

Climate normals are rounded from the CMA 1991-2020 station normals of Dingxi
(52995, 1896 m) and Lhasa (55591, 3650 m). Crop parameters (base temperature,
thermal time to emergence and maturity, critical frost temperatures) follow
FAO "Frost Protection: fundamentals, practice and economics" (Snyder & de
Melo-Abreu 2005, tables 4.3-4.5), the AquaCrop crop files (Raes et al. 2009)
and, for potato late blight, the Hutton/Smith criteria (Dancey et al. 2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CropSpec:
    """Parameters of one crop (temperatures in °C, thermal time in °C·d above ``tbase``)."""

    name: str
    share: float                     # fraction of fields
    varieties: tuple[str, ...]
    tbase: float                     # base temperature of thermal time
    tupper: float                    # cap of daily mean temperature for thermal time
    gdd_emergence: float
    gdd_maturity: float
    lai_max: float                   # m2/m2, unstressed
    kc_max: float                    # FAO-56 mid-season crop coefficient
    yield_potential: float           # t/ha (fresh tubers for potato, grain at 13 % for cereals)
    sow_month_day: tuple[int, int]   # mean sowing date (winter crops: the year before)
    sow_sd_days: float
    frost_early: float               # critical Tmin, vegetative stages (10 % kill)
    frost_late: float                # critical Tmin, from flowering/heading on
    heat_tmax: float                 # daily Tmax above which grain/tuber set suffers
    seed_dose_kg_ha: float
    base_fertiliser_kg_ha: float
    winter: bool = False             # sown in autumn, thermal time counted from 1 March
    blight_host: bool = False        # potato late blight (Phytophthora infestans)


@dataclass(frozen=True)
class RegionSpec:
    """A demo region: place, projection, terrain, climate and farming system."""

    key: str
    name_zh: str
    name_en: str
    lat: float
    lon: float
    epsg: int
    id_prefix: str
    mgrs_tile: str
    base_elevation: float      # m, valley floor level at the region centre
    relief: float              # m, ridge-to-valley amplitude of the hills
    valley_depth: float        # m, incision of the main valleys
    t_mean: float              # °C annual mean of daily mean temperature at base elevation
    t_amplitude: float         # °C half range of the annual cycle
    t_peak_doy: int            # day of year of the warmest mean
    dtr: float                 # °C mean diurnal range on dry days
    monthly_precip: tuple[float, ...]    # mm, Jan..Dec
    monthly_wet_prob: tuple[float, ...]  # probability of a wet day (>= 0.1 mm), Jan..Dec
    rh_dry: float              # % mean relative humidity on dry summer days
    frost_spring: tuple[int, int]   # day-of-year window of the forced late-spring frost
    frost_autumn: tuple[int, int]   # day-of-year window of the forced early-autumn frost
    crops: tuple[CropSpec, ...]
    townships: tuple[tuple[str, str, str], ...]   # (id, name_zh, name_en)
    cooperatives: tuple[str, ...]
    soil_sand: float           # g/kg regional mean
    soil_clay: float
    soil_soc: float            # dg/kg
    soil_ph: float             # pH (x10 in the files)
    soil_awc: float            # mm water per m soil
    irrigated_valley: float = 0.45   # probability that a valley-bottom field is irrigated
    irrigated_other: float = 0.04    # ... and any other field
    hail: bool = False
    extra: dict[str, float] = field(default_factory=dict)


POTATO = CropSpec("potato", 0.45, ("Qingshu 9", "Longshu 7", "Xindaping"), 4.0, 25.0, 250.0,
                  1750.0, 4.0, 1.15, 35.0, (4, 25), 6.0, -1.5, -1.5, 29.0, 2250.0, 600.0,
                  blight_host=True)
SPRING_WHEAT = CropSpec("spring_wheat", 0.30, ("Dingxi 40", "Longchun 27"), 0.0, 26.0, 150.0,
                        1650.0, 4.5, 1.15, 5.0, (3, 20), 5.0, -4.0, -2.0, 32.0, 300.0, 375.0)
MAIZE = CropSpec("maize", 0.25, ("Xianyu 335", "Zhengdan 958"), 8.0, 30.0, 90.0, 1000.0,
                 4.8, 1.20, 9.0, (4, 28), 5.0, -1.0, -1.0, 35.0, 45.0, 450.0)
HIGHLAND_BARLEY = CropSpec("highland_barley", 0.6, ("Zangqing 2000", "Ximala 22"), 0.0, 25.0,
                           120.0, 1450.0, 4.0, 1.10, 5.5, (4, 10), 5.0, -3.0, -2.0, 30.0,
                           225.0, 300.0)
WINTER_WHEAT = CropSpec("winter_wheat", 0.4, ("Shandong 6", "Zangdong 20"), 0.0, 26.0, 0.0,
                        1450.0, 5.0, 1.15, 7.0, (10, 10), 5.0, -6.0, -2.0, 31.0, 330.0, 450.0,
                        winter=True)

REGIONS: dict[str, RegionSpec] = {
    "dingxi": RegionSpec(
        key="dingxi", name_zh="甘肃省定西市安定区", name_en="Anding District, Dingxi, Gansu",
        lat=35.58, lon=104.62, epsg=32648, id_prefix="DX", mgrs_tile="48SVD",
        base_elevation=1950.0, relief=140.0, valley_depth=60.0,
        t_mean=7.0, t_amplitude=13.0, t_peak_doy=200, dtr=13.0,
        monthly_precip=(3, 5, 12, 25, 45, 50, 80, 95, 60, 30, 7, 2),
        monthly_wet_prob=(0.10, 0.12, 0.20, 0.25, 0.30, 0.35, 0.42, 0.44, 0.38, 0.25, 0.10, 0.08),
        rh_dry=55.0, frost_spring=(150, 162), frost_autumn=(255, 268),
        crops=(POTATO, SPRING_WHEAT, MAIZE),
        townships=(("T01", "凤翔镇", "Fengxiang"), ("T02", "内官营镇", "Neiguanying"),
                   ("T03", "香泉镇", "Xiangquan"), ("T04", "团结镇", "Tuanjie")),
        cooperatives=("马铃薯产销合作社", "丰源种植合作社", "绿洲农机合作社", "金土地合作社",
                      "兴农合作社", "禾丰合作社", "惠民合作社", "沃土合作社"),
        soil_sand=220.0, soil_clay=170.0, soil_soc=70.0, soil_ph=8.3, soil_awc=165.0,
    ),
    "lhasa": RegionSpec(
        key="lhasa", name_zh="西藏拉萨河谷", name_en="Lhasa river valley, Tibet",
        lat=29.65, lon=91.10, epsg=32646, id_prefix="LS", mgrs_tile="46RGU",
        base_elevation=3650.0, relief=160.0, valley_depth=50.0,
        t_mean=8.0, t_amplitude=9.0, t_peak_doy=185, dtr=15.0,
        monthly_precip=(1, 1, 3, 6, 25, 70, 120, 115, 60, 8, 1, 1),
        monthly_wet_prob=(0.02, 0.03, 0.06, 0.10, 0.25, 0.45, 0.60, 0.60, 0.45, 0.10, 0.02, 0.02),
        rh_dry=35.0, frost_spring=(140, 155), frost_autumn=(250, 262),
        crops=(HIGHLAND_BARLEY, WINTER_WHEAT),
        townships=(("T01", "蔡公堂乡", "Caigongtang"), ("T02", "纳金乡", "Najin"),
                   ("T03", "娘热乡", "Niangre")),
        cooperatives=("青稞种植合作社", "拉萨河农牧合作社", "雪域丰收合作社", "吉祥合作社",
                      "高原绿色合作社"),
        soil_sand=430.0, soil_clay=120.0, soil_soc=110.0, soil_ph=7.6, soil_awc=130.0,
        irrigated_valley=0.85, irrigated_other=0.5, hail=True,
    ),
}


def get_region(key: str) -> RegionSpec:
    """The spec of a demo region by key (``dingxi`` or ``lhasa``)."""
    try:
        return REGIONS[key]
    except KeyError:
        from geodata.errors import InputError

        raise InputError("unknown demo region", field="region",
                         expected=" or ".join(sorted(REGIONS)), got=key) from None
