"""Operator commands: `meshkeys master-key rotate`, `audit verify`, `seed`."""

from __future__ import annotations

import sys

import click

from meshkeys.cli import (
    emit,
    handles_errors,
    json_option,
    main,
)
from meshkeys.services import operations
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
@handles_errors
def audit_verify() -> None:
    """Check every hash chain; exit 1 and print the first broken event."""
    with UnitOfWork(system=True) as uow:
        checked, broken = operations.verify_all_chains(uow)
    if broken:
        event = f" ({broken.event_id})" if broken.event_id else ""
        click.echo(
            f"BROKEN chain {broken.chain_id} at event #{broken.seq}{event}: {broken.problem}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"ok: {checked} chains intact")


@main.command()
@click.option("--keys", "count", type=int, required=True, help="How many keys to create.")
@click.option("--project", "project_name", required=True, help="Project name (created if missing).")
@click.option("--owner", default="demo@meshkeys.local", show_default=True)
@json_option
@handles_errors
def seed(count: int, project_name: str, owner: str, as_json: bool) -> None:
    """Bulk demo data for benchmarks (one key in ten revoked)."""
    from meshkeys.crypto.masterkey import get_keyring

    with (
        UnitOfWork(system=True) as uow,
        click.progressbar(length=count, label="seeding keys", file=sys.stderr) as bar,
    ):
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
