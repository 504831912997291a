"""XYZ PNG tiles of the run layers."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from nongshu.settings import Settings
from webapi.app import ctx
from webapi.errors import BadRequestError
from webapi.layers import LAYERS

bp = Blueprint("tiles", __name__)


def tile_cache_dir(settings: Settings) -> Path:
    """Rendered tiles shared by the server's workers: ``<data_dir>/cache/tiles``."""
    return settings.data_dir / "cache" / "tiles"


def _int(value: str, name: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 30:
        raise BadRequestError("tile coordinate must be a non-negative integer", field=name, got=value)
    return int(value)


@bp.get("/tiles/<run>/<layer>/<z>/<x>/<y>.png")
def tile(run: str, layer: str, z: str, x: str, y: str) -> ResponseReturnValue:
    """A 256 px WebMercatorQuad tile.
    ---
    get:
      tags: [tiles]
      summary: 256 px PNG tile of a run layer (WebMercatorQuad)
      parameters:
        - {name: run, in: path, required: true, description: run name from /api/v1/runs or latest, schema: {type: string, pattern: '^[A-Za-z0-9_-]{1,64}([.][A-Za-z0-9_-]{1,64})?$'}}
        - {name: layer, in: path, required: true, description: layer name from /api/v1/layers, schema: {type: string, pattern: '^[a-z0-9_]{1,64}$'}}
        - {name: z, in: path, required: true, schema: {type: integer, minimum: 0, maximum: 22}}
        - {name: x, in: path, required: true, description: 'column, below 2^z', schema: {type: integer, minimum: 0, maximum: 4194303}}
        - {name: y, in: path, required: true, description: 'row, below 2^z', schema: {type: integer, minimum: 0, maximum: 4194303}}
      responses:
        200:
          description: PNG tile (fully transparent outside the data)
          headers:
            ETag: {schema: {type: string}}
            Cache-Control: {schema: {type: string}}
          content:
            image/png:
              schema: {type: string, format: binary}
        304:
          description: Not modified (If-None-Match matched the ETag)
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    zi, xi, yi = _int(z, "z"), _int(x, "x"), _int(y, "y")
    context = ctx()
    found = context.runs.get(run)
    spec = LAYERS.get_layer(layer)
    path = context.runs.layer_path(found, layer)
    png, etag = context.tiles.tile(path, spec, zi, xi, yi, cache_dir=tile_cache_dir(context.settings))
    response = Response(png, mimetype="image/png")
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)
