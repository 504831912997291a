"""``nongshu trace ...``: list, show, export, import, verify, audit, QR codes, recall, demo chain, organisations and API keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from nongshu.cli import get_settings
from traceability.errors import TraceError
from traceability.gs1 import build_digital_link
from traceability.qr import write_qr
from traceability.store import ROLES, TraceStore, VerifyReport

database_option = click.option(
    "--database-url",
    default=None,
    help="SQLAlchemy URL of the trace store (default: NONGSHU_DATABASE_URL or "
    "sqlite in the data directory).",
)
gtin_option = click.option(
    "--gtin", default=None, help="GTIN of the lot when the lot number is not unique."
)
api_key_option = click.option(
    "--api-key",
    envvar="NONGSHU_API_KEY",
    required=True,
    help="API key of the acting organisation (or NONGSHU_API_KEY).",
)


def _open(ctx: click.Context, url: str | None) -> TraceStore:
    return TraceStore.open(url or get_settings(ctx).trace_database_url)


@click.group()
def trace() -> None:
    """Produce traceability: EPCIS 2.0 events, verification, QR codes, recalls."""


@trace.command("lots")
@database_option
@click.option(
    "--status", type=click.Choice(["active", "in_transit", "sold", "consumed"]), default=None
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def lots_command(
    ctx: click.Context, database_url: str | None, status: str | None, as_json: bool
) -> None:
    """List lots, newest first."""
    with _open(ctx, database_url) as store:
        rows = store.lots(status=status)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("GTIN", "lot", "product", "kg", "status", "custodian", "field", "flags")
    for r in rows:
        flags = " ".join(
            f
            for f, on in (
                ("recalled", r["recalled"]),
                ("PHI", r["phi_flag"]),
                ("non-conformant", r["inspection"] == "non_conformant"),
            )
            if on
        )
        table.add_row(
            r["gtin"],
            r["lot"],
            r["product"],
            f"{r['quantity_kg'] or '':}",
            r["status"],
            r["custodian"],
            r["origin_field_id"] or "",
            flags,
        )
    Console().print(table)


@trace.command("show")
@click.argument("lot")
@gtin_option
@database_option
@click.pass_context
def show_command(ctx: click.Context, lot: str, gtin: str | None, database_url: str | None) -> None:
    """Show a lot: status, certificate, pre-harvest interval checks, events."""
    with _open(ctx, database_url) as store:
        g, lot = store.find_lot(lot, gtin)
        click.echo(json.dumps(store.lot(g, lot), ensure_ascii=False, indent=2))


@trace.command("export")
@click.argument("lot")
@gtin_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the EPCIS 2.0 JSON-LD document here instead of stdout.",
)
@database_option
@click.pass_context
def export_command(
    ctx: click.Context, lot: str, gtin: str | None, out: str | None, database_url: str | None
) -> None:
    """Export the lot's history as an EPCIS 2.0 JSON-LD document."""
    with _open(ctx, database_url) as store:
        g, lot = store.find_lot(lot, gtin)
        text = json.dumps(store.export_lot(g, lot), ensure_ascii=False, indent=2)
    if out:
        tmp = Path(out).with_name(f".{Path(out).name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text)


@trace.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@api_key_option
@database_option
@click.pass_context
def import_command(ctx: click.Context, file: str, api_key: str, database_url: str | None) -> None:
    """Import a partner's EPCIS 2.0 JSON-LD document (all events or none)."""
    limit = get_settings(ctx).max_upload_bytes
    if file == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        path = Path(file)
        if not path.is_file():
            raise TraceError("no such file", source=file)
        if path.stat().st_size > limit:
            raise TraceError(
                "import too large",
                source=file,
                expected=f"at most {limit} bytes",
                got=path.stat().st_size,
            )
        data = path.read_bytes()
    with _open(ctx, database_url) as store:
        principal = store.authenticate(api_key)
        recorded = store.import_document(principal, data, max_bytes=limit, source=file)
    new = sum(r.created for r in recorded)
    click.echo(f"{len(recorded)} events: {new} new, {len(recorded) - new} already stored")


@trace.command("verify")
@click.argument("lot")
@gtin_option
@database_option
@click.pass_context
def verify_command(
    ctx: click.Context, lot: str, gtin: str | None, database_url: str | None
) -> None:
    """Verify hashes, signatures, hash chains and Merkle log inclusion; exit 1 when broken."""
    with _open(ctx, database_url) as store:
        g, lot = store.find_lot(lot, gtin)
        report = store.verify_lot(g, lot, recompute_hashes=True)
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    if not report.ok:
        where = report.first_broken
        click.secho(
            f"BROKEN at {where.event_id}: {where.reason}"
            if where
            else "BROKEN: " + "; ".join(report.problems),
            fg="red",
            err=True,
        )
        ctx.exit(1)
    click.secho(
        f"intact: {report.events_checked} events in {report.lots_checked} lots",
        fg="green",
        err=True,
    )


@trace.command("audit")
@database_option
@click.option(
    "--quick",
    is_flag=True,
    help="Skip re-deriving every GS1 event hash from its document (signatures, digests, "
    "chains and log inclusion are still checked).",
)
@click.pass_context
def audit_command(ctx: click.Context, database_url: str | None, quick: bool) -> None:
    """Verify every lot and bring its stored public view up to date; exit 1 when any is broken.

    The public page serves the verification done when a lot last changed; this re-checks
    the rows as they are now (docs/SECURITY.md). Run it on a schedule and after upgrades.
    """
    broken: list[str] = []

    def seen(report: VerifyReport) -> None:
        if not report.ok:
            where = report.first_broken
            reason = where.reason if where else "; ".join(report.problems)
            broken.append(f"{report.gtin}/{report.lot}: {reason}")

    with _open(ctx, database_url) as store:
        counts = store.audit(recompute_hashes=not quick, on_lot=seen)
    click.echo(json.dumps({**counts, "broken": broken}, ensure_ascii=False, indent=2))
    if broken:
        click.secho(f"BROKEN: {len(broken)} of {counts['lots_checked']} lots", fg="red", err=True)
        ctx.exit(1)
    click.secho(f"intact: {counts['lots_checked']} lots", fg="green", err=True)


@trace.command("qr")
@click.option("--gtin", required=True, help="GTIN-8/12/13/14 (check digit verified).")
@click.option("--lot", required=True, help="Batch/lot number.")
@click.option("--serial", default=None, help="Optional serial number (AI 21).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="FILE.png or FILE.svg")
@click.option("--resolver", default=None, help="Resolver base URL (default NONGSHU_RESOLVER_URL).")
@click.pass_context
def qr_command(
    ctx: click.Context, gtin: str, lot: str, serial: str | None, out: str, resolver: str | None
) -> None:
    """Write a QR code carrying the lot's GS1 Digital Link URI."""
    uri = build_digital_link(gtin, lot, serial, resolver=resolver or get_settings(ctx).resolver_url)
    write_qr(uri, out)
    click.echo(uri)


@trace.command("recall")
@click.argument("lot")
@gtin_option
@click.option("--reason", required=True, help="Why the lot is recalled (shown to partners).")
@api_key_option
@database_option
@click.pass_context
def recall_command(
    ctx: click.Context,
    lot: str,
    gtin: str | None,
    reason: str,
    api_key: str,
    database_url: str | None,
) -> None:
    """Recall a lot and everything made from it; list the shops to notify."""
    with _open(ctx, database_url) as store:
        principal = store.authenticate(api_key)
        g, lot = store.find_lot(lot, gtin)
        result = store.recall(principal, g, lot, reason=reason)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@trace.command("demo")
@click.option(
    "--inputs",
    required=True,
    type=click.Path(file_okay=False, exists=True),
    help="Region input directory (fields/fields.gpkg, operations/operations.csv).",
)
@click.option(
    "--outputs",
    default=None,
    type=click.Path(file_okay=False),
    help="Pipeline output root (optional; season summaries for the consumer view).",
)
@database_option
@click.pass_context
def demo_command(
    ctx: click.Context, inputs: str, outputs: str | None, database_url: str | None
) -> None:
    """Create demo organisations, keys and chains (idempotent)."""
    from traceability.demo import create_demo
    from traceability.season_summary import fields_csv_provider

    settings = get_settings(ctx)
    with _open(ctx, database_url) as store:
        summary = create_demo(
            store, Path(inputs), data_dir=settings.data_dir, resolver=settings.resolver_url
        )
        if outputs and Path(outputs).is_dir():
            gtin, lot = summary["consumer_lot"]
            view = store.consumer_view(
                gtin, lot, season_summary_provider=fields_csv_provider(outputs)
            )
            summary["consumer_season_summary"] = view["season_summary"]
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    if summary.get("api_keys_file"):
        click.secho(
            f"demo API keys written to {summary['api_keys_file']} (DEMO ONLY - never use in production)",
            fg="yellow",
            err=True,
        )


@trace.group("org")
def org_group() -> None:
    """Organisations that record events (operators, on the server)."""


@org_group.command("add")
@click.option("--gln", required=True, help="GLN of the organisation (13 digits, check digit verified).")
@click.option("--name", required=True, help="Registered name.")
@click.option("--role", required=True, help="One of: " + ", ".join(ROLES) + ".")
@click.option("--public-name", default=None, help="Name shown on consumer trace pages (default: --name).")
@database_option
@click.pass_context
def org_add_command(ctx: click.Context, gln: str, name: str, role: str, public_name: str | None,
                    database_url: str | None) -> None:
    """Register an organisation with its own Ed25519 signing key (idempotent on the GLN)."""
    with _open(ctx, database_url) as store:
        principal = store.create_organisation(gln=gln, name=name, role=role, public_name=public_name)
    click.echo(f"{principal.gln} {principal.role} {principal.name}")


@trace.group("keys")
def keys_group() -> None:
    """API keys: issue (shown once), list, revoke (operators, on the server; see docs/SECURITY.md)."""


@keys_group.command("issue")
@click.argument("gln")
@click.option("--label", default="", help="What the key is for (e.g. the system that uses it).")
@database_option
@click.pass_context
def keys_issue_command(ctx: click.Context, gln: str, label: str, database_url: str | None) -> None:
    """Issue a new API key for the organisation GLN; the key is printed once and only its digest is stored."""
    with _open(ctx, database_url) as store:
        key = store.issue_api_key(gln, label=label)
    click.echo(key)
    click.secho("store this key now: it is not shown again", fg="yellow", err=True)


@keys_group.command("list")
@click.option("--gln", default=None, help="Only this organisation's keys.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@database_option
@click.pass_context
def keys_list_command(ctx: click.Context, gln: str | None, as_json: bool, database_url: str | None) -> None:
    """List issued keys by id (never the keys themselves)."""
    with _open(ctx, database_url) as store:
        rows = store.api_keys(gln)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("key id", "GLN", "organisation", "label", "created", "revoked")
    for row in rows:
        table.add_row(row["key_id"], row["gln"], row["organisation"], row["label"], row["created_at"],
                      row["revoked_at"] or "")
    Console().print(table)


@keys_group.command("revoke")
@click.argument("key_id")
@database_option
@click.pass_context
def keys_revoke_command(ctx: click.Context, key_id: str, database_url: str | None) -> None:
    """Revoke the key with id KEY_ID (the 12 hex digits after ``nsk_``); later requests with it get a 401."""
    with _open(ctx, database_url) as store:
        store.revoke_api_key(key_id)
    click.echo(f"revoked {key_id}")
