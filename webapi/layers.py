"""The registry of raster layers a run can publish, with units, ranges, colours and legends.

Layer names from a request are looked up in this registry and never joined into
a path: the file name comes from the registry entry. Alert levels use the four
national warning colours of :mod:`models.alerts` (GB/T 27962-2011: blue, yellow,
orange, red); continuous values use matplotlib's perceptual colormaps (viridis
family, YlOrRd, RdYlGn) as shipped by rio-tiler.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from rio_tiler.colormap import cmap as _cmaps

from models.alerts import COLOURS, HAZARD_INFO, LEVEL_NAMES
from webapi.errors import NotFoundError


def _rgba(hex_colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    value = hex_colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), alpha)


#: alert level -> (colour name, RGBA, label zh, label en); level 0 ("no alert") is transparent.
#: Colours and labels are the models' (:data:`models.alerts.COLOURS`, GB/T 27962-2011).
ALERT_COLOURS: Mapping[int, tuple[str, tuple[int, int, int, int], str, str]] = MappingProxyType(
    {
        level: (name, _rgba(COLOURS[name]["hex"], 0 if level == 0 else 255), COLOURS[name]["zh"], COLOURS[name]["en"])
        for level, name in LEVEL_NAMES.items()
    }
)

#: The uint8 nodata value of ``alert_level.tif`` (docs/DATA_LAYOUT.md).
ALERT_NODATA = 255


@dataclass(frozen=True)
class Layer:
    """One raster layer: how to find it in a run directory and how to draw it."""

    name: str
    file: str
    title_zh: str
    title_en: str
    unit: str
    vmin: float
    vmax: float
    colormap: str
    categorical: bool = False
    categories: Mapping[int, tuple[str, tuple[int, int, int, int], str, str]] = field(
        default_factory=dict
    )

    def colour_table(self) -> dict[int, tuple[int, int, int, int]]:
        """The 256-entry (continuous) or per-category (categorical) RGBA table for rio-tiler."""
        if self.categorical:
            return {value: rgba for value, (_, rgba, _, _) in self.categories.items()}
        table = _cmaps.get(self.colormap)
        if not isinstance(table, dict):
            raise TypeError(f"colormap {self.colormap!r} is not a 256-entry table")
        return {int(k): v for k, v in table.items()}

    def legend(self, steps: int = 5) -> list[dict[str, object]]:
        """Legend entries ``{"value", "colour", "label_zh", "label_en"}`` (colour as ``#rrggbb``)."""
        if self.categorical:
            return [
                {"value": value, "colour": _hex(rgba), "label_zh": zh, "label_en": en, "name": name}
                for value, (name, rgba, zh, en) in self.categories.items()
                if value != 0
            ]
        table = self.colour_table()
        entries = []
        for i in range(steps):
            frac = i / (steps - 1)
            value = self.vmin + frac * (self.vmax - self.vmin)
            label = f"{value:g} {self.unit}".strip()
            entries.append(
                {"value": round(value, 4), "colour": _hex(table[round(frac * 255)]), "label_zh": label, "label_en": label}
            )
        return entries

    def describe(self) -> dict[str, object]:
        """The JSON description served by ``/api/v1/layers``."""
        return {
            "name": self.name,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "unit": self.unit,
            "range": [self.vmin, self.vmax],
            "colormap": "alert-4-colour" if self.categorical else self.colormap,
            "categorical": self.categorical,
            "legend": self.legend(),
        }


def _hex(rgba: tuple[int, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


_HAZARDS_ZH = {hazard: info["zh"] for hazard, info in HAZARD_INFO.items()}

_LAYERS: list[Layer] = [
    Layer("alert_level", "alert_level.tif", "预警等级", "Alert level", "", 0, 4, "alert", True, ALERT_COLOURS),
    Layer("yield_t_ha", "yield_t_ha.tif", "预测产量", "Yield forecast", "t/ha", 0, 60, "viridis"),
    Layer("yield_interval_t_ha", "yield_interval_t_ha.tif", "产量预测区间宽度", "Yield 80 % interval width", "t/ha", 0, 20, "magma"),
    *[
        Layer(f"risk_{h}", f"risk_{h}.tif", f"{zh}风险", f"{HAZARD_INFO[h]['en']} risk", "", 0, 1, "ylorrd")
        for h, zh in _HAZARDS_ZH.items()
    ],
    Layer("ndvi_peak", "ndvi_peak.tif", "NDVI 峰值", "Peak NDVI", "", 0, 1, "rdylgn"),
    Layer("vhi", "vhi.tif", "植被健康指数", "Vegetation health index", "", 0, 100, "rdylgn"),
    Layer("gdd", "gdd.tif", "积温", "Growing degree days", "°C·d", 0, 3000, "plasma"),
]


class LayerRegistry(Mapping[str, Layer]):
    """Read-only name -> :class:`Layer` registry that refuses duplicates."""

    def __init__(self, layers: list[Layer]) -> None:
        self._layers: dict[str, Layer] = {}
        for layer in layers:
            if layer.name in self._layers:
                raise ValueError(f"layer {layer.name!r} registered twice")
            self._layers[layer.name] = layer

    def __getitem__(self, name: str) -> Layer:
        return self._layers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def get_layer(self, name: str) -> Layer:
        """The layer called ``name``; :class:`NotFoundError` naming the known layers otherwise."""
        try:
            return self._layers[name]
        except KeyError:
            raise NotFoundError(
                "unknown layer", field="layer", expected=f"one of {', '.join(self._layers)}", got=name
            ) from None


LAYERS = LayerRegistry(_LAYERS)
HAZARDS = tuple(_HAZARDS_ZH)
HAZARD_NAMES_ZH: Mapping[str, str] = MappingProxyType(_HAZARDS_ZH)
