"""The TiTiler peer: a minimal ``titiler.core`` app serving any local COG as XYZ tiles.

Run with ``uvicorn benchmarks.titiler_app:app --workers 2``; tiles at
``/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url=<file>&rescale=..&colormap_name=..``.
This is how TiTiler is deployed in its own documentation (a ``TilerFactory``
router plus its exception handlers), with nothing tuned.
"""

from __future__ import annotations

from fastapi import FastAPI
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

app = FastAPI(title="TiTiler peer for the Nongshu benchmarks")
cog = TilerFactory()
app.include_router(cog.router, prefix="/cog", tags=["Cloud Optimized GeoTIFF"])
add_exception_handlers(app, DEFAULT_STATUS_CODES)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
