"""The `meshkeys` command: a thin door onto the services.

Every command that acts on a project names its actor with ``--user EMAIL``
(or ``MESHKEYS_USER``): the CLI obeys the same roles as the UI and the API.
Exit codes: 0 ok, 1 unexpected, 2 bad input, 3 not found, 4 permission denied,
5 conflict, 6 authentication, 7 the database is unavailable.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import wraps
from typing import Any

import click
from pydantic import BaseModel

from meshkeys import logs
from meshkeys.config import ConfigError
from meshkeys.services import auth, errors
from meshkeys.services.uow import UnitOfWork

EXIT_CODES = {
    errors.InvalidInput: 2,
    errors.NotFound: 3,
    errors.PermissionDenied: 4,
    errors.Conflict: 5,
    errors.Unauthenticated: 6,
    errors.RateLimited: 6,
    errors.Unavailable: 7,
}


@contextmanager
def as_user(email: str) -> Iterator[UnitOfWork]:
    """A unit of work acting as the user with this email (``--user``)."""

    if not email:
        raise errors.InvalidInput("name the acting user with --user EMAIL (or MESHKEYS_USER)")
    with UnitOfWork() as uow:
        auth.act_as_user(uow, email=email)
        yield uow


def emit(obj: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json:
        if isinstance(obj, BaseModel):
            payload: Any = obj.model_dump(mode="json")
        elif isinstance(obj, list):
            payload = [o.model_dump(mode="json") if isinstance(o, BaseModel) else o for o in obj]
        else:
            payload = obj
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        click.echo(human(obj) if human else str(obj))


def handles_errors(fn: Callable) -> Callable:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(next((EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES), 1))
        except ConfigError as exc:
            click.echo(f"configuration error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.InvalidInput(
            f"{what} must be a UUID such as 0b6f4c1e-...; got {value!r}"
        ) from None


def choice_of(enum: type[StrEnum]) -> click.Choice[str]:
    """The values of a model enum, as click's choices: never spelled twice."""
    return click.Choice([member.value for member in enum])


user_option = click.option(
    "--user",
    "user_email",
    envvar="MESHKEYS_USER",
    required=True,
    help="Email of the acting user (env MESHKEYS_USER).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


class Utf8Group(click.Group):
    """The command group; refuses arguments that are not UTF-8 before any command runs.

    Python hands undecodable argv bytes over as lone surrogates (``\\udcff``), which no
    service can store, sign or print; refusing them here is exit 2 with a message, once for
    every command, never a traceback from deep inside one.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                raise click.UsageError(
                    f"the argument {shown!r} is not valid UTF-8 text; "
                    "pass arguments in UTF-8 (check the terminal's locale)",
                    ctx,
                ) from None
        return super().parse_args(ctx, args)


@click.group(cls=Utf8Group)
def main() -> None:
    """meshkeys: keys that sign webhooks."""
    try:
        logs.configure()  # the first read of the settings: a bad one is reported here
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


# The commands register themselves on ``main`` when their modules are imported.
from meshkeys.cli import admin, keys, operator  # noqa: E402, F401
