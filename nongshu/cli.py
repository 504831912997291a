"""The ``nongshu`` command line.

Each package owns its own commands in its ``cli.py``; this module only lists
them (loaded lazily, so ``nongshu --help`` stays fast) and turns every
:class:`~nongshu.errors.NongshuError` into a one-line message and exit code 2
instead of a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from nongshu import __version__
from nongshu.errors import NongshuError
from nongshu.settings import Settings

#: command name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "demo-data": "geodata.cli:demo_data",
    "validate": "geodata.validate:validate_command",
    "run": "pipelines.cli:run",
    "model": "models.cli:model",
    "trace": "traceability.cli:trace",
    "serve": "webapi.cli:serve",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NongshuError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nongshu")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Nongshu (农数): yield and risk rasters, alerts, advice and produce traceability."""
    settings = Settings.from_env()
    level = {0: settings.log_level, 1: "INFO"}.get(verbose, "DEBUG")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = settings


def get_settings(ctx: click.Context) -> Settings:
    """The settings object of the running command (built once in :func:`main`)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings.from_env()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
