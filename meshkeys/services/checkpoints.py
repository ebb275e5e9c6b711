"""Signed checkpoints of the audit chains, kept outside the database.

A checkpoint is one JSON file: the time, the master key version that signed it, every chain's
head (seq and hash), and an ed25519 signature over the rest (``audit_keys.sign_checkpoint``).
Someone who can rewrite the database but not the checkpoint folder (keep it on another host,
or in write-once storage) cannot truncate a chain or roll it back to an older state without
``audit verify --checkpoints DIR`` noticing.

File names carry the time and a random suffix, and are written to a temporary name then
renamed: two writers (several app workers, or the CLI beside the app) never clobber or
half-write one. ``write_if_due`` skips when a checkpoint younger than the interval exists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from meshkeys.config import get_settings
from meshkeys.crypto import audit_keys
from meshkeys.crypto.encryption import Keyring
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import AuditHead
from meshkeys.services.audit_check import Anchor, ChainBreak, Verdict, verify_all
from meshkeys.services.errors import InvalidInput
from meshkeys.services.uow import UnitOfWork

FORMAT = "meshkeys-audit-checkpoint/1"
INTERVAL = timedelta(hours=1)
_PATTERN = "checkpoint-*.json"
_log = logging.getLogger("meshkeys.audit.checkpoints")


def _signed_bytes(body: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def take(uow: UnitOfWork, *, keyring: Keyring) -> dict[str, Any]:
    """A signed checkpoint of every chain's head, as of now (the transaction stays open)."""
    uow.read_only()
    heads = uow.session.exec(select(AuditHead).order_by(col(AuditHead.chain_id))).all()
    body: dict[str, Any] = {
        "format": FORMAT,
        "created_at": uow.now.isoformat(timespec="microseconds"),
        "key_version": keyring.current_version,
        "chains": {str(h.chain_id): {"seq": h.seq, "hash": h.head_hash} for h in heads},
    }
    body["signature"] = audit_keys.sign_checkpoint(keyring, _signed_bytes(body))
    return body


def write(uow: UnitOfWork, *, directory: Path, keyring: Keyring) -> Path:
    """Take a checkpoint and write it into ``directory`` (created if missing) as one file."""
    body = take(uow, keyring=keyring)
    stamp = datetime.fromisoformat(body["created_at"]).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"checkpoint-{stamp}-{secrets.token_hex(4)}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidInput(f"cannot write a checkpoint into {directory}: {exc.strerror}") from None
    finally:
        uow.rollback()
    return path


def write_if_due(
    uow: UnitOfWork, *, directory: Path, keyring: Keyring, interval: timedelta = INTERVAL
) -> Path | None:
    """Write a checkpoint unless one younger than ``interval`` is already there.

    On PostgreSQL an advisory lock held until the file is written makes several workers
    sharing the folder write one checkpoint an interval; elsewhere two writers at worst write
    two files, which the file names tolerate.
    """
    uow.serialize("meshkeys.audit.checkpoint")
    newest = _newest_file(directory)
    if newest is not None:
        created = _read(newest).get("created_at")
        try:
            if created and uow.now - datetime.fromisoformat(created) < interval:
                uow.rollback()
                return None
        except (TypeError, ValueError):
            pass
    return write(uow, directory=directory, keyring=keyring)


def _newest_file(directory: Path) -> Path | None:
    # The names sort by time (UTC, fixed width).
    files = sorted(directory.glob(_PATTERN)) if directory.is_dir() else []
    return files[-1] if files else None


def _read(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except (OSError, UnicodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Loaded:
    """The newest checkpoint of a folder, or why it cannot be trusted."""

    path: Path
    created_at: str
    anchors: dict[uuid.UUID, Anchor]
    problem: str | None = None


def load_newest(directory: Path, *, keyring: Keyring) -> Loaded:
    """The newest checkpoint in ``directory``, its signature checked."""
    path = _newest_file(directory)
    if path is None:
        raise InvalidInput(f"no checkpoint ({_PATTERN}) in {directory}")
    body = _read(path)
    created = str(body.get("created_at", ""))
    try:
        if body.get("format") != FORMAT:
            raise ValueError("not a meshkeys checkpoint")
        anchors = {
            uuid.UUID(chain): Anchor(seq=int(head["seq"]), hash=str(head["hash"]))
            for chain, head in body["chains"].items()
        }
        version = str(body["key_version"])
        signature = str(body["signature"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return Loaded(path, created, {}, f"checkpoint {path.name} cannot be read: {exc}")
    try:
        ok = audit_keys.checkpoint_signature_ok(keyring, version, _signed_bytes(body), signature)
    except audit_keys.UnknownKeyVersion:
        problem = (
            f"checkpoint {path.name} is signed by master key {version}, which is not "
            "configured: list it in MESHKEYS_MASTER_KEYS"
        )
        return Loaded(path, created, {}, problem)
    if not ok:
        problem = f"checkpoint {path.name} has a bad signature: forged or edited"
        return Loaded(path, created, {}, problem)
    return Loaded(path, created, anchors)


def verify_against(uow: UnitOfWork, *, directory: Path, keyring: Keyring) -> tuple[Verdict, Path]:
    """Every chain checked, and compared with the newest checkpoint of ``directory``."""
    loaded = load_newest(directory, keyring=keyring)
    if loaded.problem:
        return Verdict(0, 0, ChainBreak(None, 0, None, loaded.problem)), loaded.path
    uow.read_only()
    verdict = verify_all(
        uow, keyring=keyring, anchors=loaded.anchors, anchored_at=loaded.created_at
    )
    uow.rollback()
    return verdict, loaded.path


async def run_in_background(*, poll_seconds: float = 60.0) -> None:
    """The app's checkpoint writer: every ``poll_seconds``, a checkpoint into
    ``MESHKEYS_AUDIT_CHECKPOINT_DIR`` if the newest there is an hour old. Returns at once when
    the setting is unset. Failures are logged and retried at the next poll."""
    directory = get_settings().audit_checkpoint_dir
    if directory is None:
        return
    _log.info("audit checkpoints every %s into %s", INTERVAL, directory)
    while True:
        try:
            written = await asyncio.to_thread(_write_if_due, directory)
            if written is not None:
                _log.info("audit checkpoint written: %s", written)
        except Exception:  # noqa: BLE001 (the app keeps serving; the next poll retries)
            _log.exception("audit checkpoint failed")
        await asyncio.sleep(poll_seconds)


def _write_if_due(directory: Path) -> Path | None:
    with UnitOfWork(system=True) as uow:
        return write_if_due(uow, directory=directory, keyring=get_keyring())
