"""``lgsp contracts``: export the contracts' JSON Schemas and examples, and
tell a compatible change from a breaking one (rules in :mod:`lgsp.catalogue.compat`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lgsp.catalogue.compat import diff_exports
from lgsp.catalogue.documents import Document
from lgsp.catalogue.export import load_export, write_export
from lgsp.catalogue.registry import Registry

_DIRECTORY = click.Path(file_okay=False, path_type=Path)
_EXISTING = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group()
def contracts() -> None:
    """The versioned contracts as files: JSON Schemas, errors, examples."""


@contracts.command("export")
@click.argument("directory", type=_DIRECTORY)
def export(directory: Path) -> None:
    """Write every service and topic version into DIRECTORY
    (services/<service>/v<N>.json, topics/<topic>/v<N>.json, index.json);
    files of versions that no longer exist are removed."""
    result = write_export(Registry.from_entry_points(), directory)
    click.echo(f"wrote {len(result.written)} files to {directory}", err=True)
    for relative in result.removed:
        click.echo(f"removed {relative}", err=True)


def _load(directory: Path) -> dict[str, Document]:
    try:
        return load_export(directory)
    except (OSError, ValueError) as exc:
        # Exit 2, not 1: 1 means "breaking".
        raise click.UsageError(str(exc)) from exc


@contracts.command("diff")
@click.argument("old", type=_EXISTING)
@click.argument("new", type=_EXISTING)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def diff(ctx: click.Context, old: Path, new: Path, fmt: str) -> None:
    """Compare two exports (OLD, then NEW) version by version. Exits 1 when a
    change is breaking."""
    changes = diff_exports(_load(old), _load(new))
    breaking = sum(c.breaking for c in changes)
    if fmt == "json":
        answer = {"breaking": breaking > 0, "changes": [c.as_json() for c in changes]}
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        for change in changes:
            click.echo(str(change))
        if changes:
            click.echo(f"{breaking} breaking, {len(changes) - breaking} non-breaking change(s)")
        else:
            click.echo("no changes")
    ctx.exit(1 if breaking else 0)
