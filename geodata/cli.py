"""``nongshu demo-data``: generate an embedded demo region."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geodata.demo.regions import REGIONS


@click.command("demo-data")
@click.option("--region", type=click.Choice(sorted(REGIONS)), default="dingxi", show_default=True,
              help="Demo region.")
@click.option("--size", type=click.IntRange(min=128), default=512, show_default=True,
              help="Raster size in 10 m pixels (even; 4096 = 41 km).")
@click.option("--seasons", type=click.IntRange(min=1), default=6, show_default=True,
              help="Number of season years ending with --last-season.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--last-season", type=click.IntRange(min=1990, max=2100), default=2026,
              show_default=True, help="The current (last) season year.")
@click.option("--dates-per-season", type=click.IntRange(min=2), default=None,
              help="Evenly spaced Sentinel-2 dates per season (default: every 5-10 days).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: <data dir>/demo/<region>).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def demo_data(ctx: click.Context, region: str, size: int, seasons: int, seed: int,
              last_season: int, dates_per_season: int | None, out: Path | None,
              quiet: bool) -> None:
    """Generate the demo region: Sentinel-2 COGs + STAC, weather NetCDF, soil, DEM, fields, pests, yields, operations."""
    from geodata.demo import generate_region
    from nongshu.cli import get_settings

    if out is None:
        out = Path(get_settings(ctx).data_dir) / "demo" / region
    manifest = out / "region.json"
    before = manifest.stat().st_mtime_ns if manifest.exists() else None
    path = generate_region(region, out, size=size, seasons=seasons, seed=seed,
                           last_season=last_season, dates_per_season=dates_per_season,
                           progress=not quiet)
    meta = json.loads((path / "region.json").read_text(encoding="utf-8"))
    types = ", ".join(f"{y} {t}" for y, t in meta["season_types"].items())
    click.echo(f"{meta['name_en']} ({meta['name_zh']}): {meta['n_fields']} fields, "
               f"{len(meta['files'])} files, seasons {types}")
    reused = before is not None and manifest.stat().st_mtime_ns == before
    click.echo(f"{'up to date (same parameters), reused' if reused else 'written to'} {path}")
