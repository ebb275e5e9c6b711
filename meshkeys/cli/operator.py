"""Operator commands: `meshkeys master-key rotate`, `audit verify|checkpoint`, `seed`."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import click

from meshkeys.cli import (
    emit,
    handles_errors,
    json_option,
    main,
)
from meshkeys.services import checkpoints, operations
from meshkeys.services.audit_check import Verdict
from meshkeys.services.uow import UnitOfWork

# ---------------------------------------------------------------- operations


@main.group("master-key")
def master_key() -> None:
    """The master key that encrypts secrets at rest."""


@master_key.command("rotate")
@handles_errors
def master_key_rotate() -> None:
    """Re-encrypt every secret under MESHKEYS_MASTER_KEY (old ones in MESHKEYS_MASTER_KEYS).

    Resumable.
    """
    from meshkeys.crypto.masterkey import get_keyring

    keyring = get_keyring()
    with UnitOfWork(system=True) as uow:
        todo = operations.secrets_to_reencrypt(uow, keyring=keyring)
        with click.progressbar(length=todo, label="re-encrypting", file=sys.stderr) as bar:
            done = operations.rotate_master_key(uow, keyring=keyring, progress=bar.update)
    click.echo(f"re-encrypted {done} secrets under master key {keyring.current_version}")


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option(
    "--checkpoints",
    "checkpoint_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also compare every chain with the newest signed checkpoint in this folder.",
)
@json_option
@handles_errors
def audit_verify(checkpoint_dir: Path | None, as_json: bool) -> None:
    """Check every hash chain; exit 1 and name the first broken event."""
    from meshkeys.crypto.masterkey import get_keyring

    keyring = get_keyring()
    checkpoint: Path | None = None
    with UnitOfWork(system=True) as uow:
        if checkpoint_dir is None:
            verdict = operations.verify_all_chains(uow, keyring=keyring)
        else:
            verdict, checkpoint = checkpoints.verify_against(
                uow, directory=checkpoint_dir, keyring=keyring
            )
    report = _verdict(verdict, checkpoint)
    emit(report, as_json, _human_verdict)
    if verdict.broken:
        sys.exit(1)


def _verdict(verdict: Verdict, checkpoint: Path | None) -> dict[str, Any]:
    broken = verdict.broken
    return {
        "ok": broken is None,
        "chains": verdict.chains,
        "events": verdict.events,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "broken": None
        if broken is None
        else {
            "chain_id": str(broken.chain_id) if broken.chain_id else None,
            "seq": broken.seq,
            "event_id": str(broken.event_id) if broken.event_id else None,
            "problem": broken.problem,
        },
    }


def _human_verdict(report: dict[str, Any]) -> str:
    against = f" (and the checkpoint {report['checkpoint']})" if report["checkpoint"] else ""
    broken = report["broken"]
    if broken is None:
        return f"ok: {report['chains']} chains, {report['events']} events intact{against}"
    if broken["chain_id"] is None:
        return f"BROKEN: {broken['problem']}"
    event = f" ({broken['event_id']})" if broken["event_id"] else ""
    where = f"chain {broken['chain_id']} at event #{broken['seq']}{event}"
    return f"BROKEN {where}: {broken['problem']}"


@audit.command("checkpoint")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write the signed checkpoint into (created if missing).",
)
@handles_errors
def audit_checkpoint(out_dir: Path) -> None:
    """Write a signed checkpoint of every chain's head (one JSON file) into --out."""
    from meshkeys.crypto.masterkey import get_keyring

    with UnitOfWork(system=True) as uow:
        path = checkpoints.write(uow, directory=out_dir, keyring=get_keyring())
    click.echo(str(path))


class _Null(io.StringIO):
    """Where the progress bar draws when stdout is not a terminal: nowhere."""


@main.command()
@click.option("--keys", "count", type=int, required=True, help="How many keys to create.")
@click.option("--project", "project_name", required=True, help="Project name (created if missing).")
@click.option("--owner", default="demo@meshkeys.local", show_default=True)
@json_option
@handles_errors
def seed(count: int, project_name: str, owner: str, as_json: bool) -> None:
    """Bulk demo data for benchmarks (one key in ten revoked), in one transaction with one
    `keys.seeded` audit event; a progress bar on stderr when stdout is a terminal."""
    from meshkeys.crypto.masterkey import get_keyring

    bar = click.progressbar(
        length=count, label="seeding keys", file=sys.stderr if sys.stdout.isatty() else _Null()
    )
    with UnitOfWork(system=True) as uow, bar:
        seeded = operations.seed(
            uow,
            project_name=project_name,
            owner_email=owner,
            count=count,
            keyring=get_keyring(),
            progress=bar.update,
        )
    result = {"project_id": str(seeded.project_id), "keys": seeded.keys, "owner": seeded.owner}
    emit(result, as_json, lambda d: d["project_id"])


@main.command("preflight")
def preflight() -> None:
    """Refuse a production start that would half-start: exit 1, one line per problem, each
    naming the setting (master key, database, runtime role, Redis); exit 0 when all hold."""
    from meshkeys.services import preflight as checks

    report = checks.check()
    for line in report.checked:
        click.echo(f"ok: {line}")
    for problem in report.problems:
        click.echo(f"refused: {problem.message}", err=True)
    if not report.ok:
        click.echo("meshkeys will not start: fix the settings above", err=True)
        sys.exit(1)
    click.echo("preflight passed")
