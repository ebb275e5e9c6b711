"""Prometheus metrics (one registry per app) and structured log lines for key actions.

Each ``create_api()`` builds its own ``CollectorRegistry``: the process-wide default
registry refuses a second collector of the same name, and Reflex may build the app twice.
Log lines name ids, never a secret: their fields are chosen here, one by one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram

from meshkeys.config import get_settings
from meshkeys.forwarding import client_address
from meshkeys.logs import KEY_LOGGER
from meshkeys.services import errors
from meshkeys.services.context import Actor
from meshkeys.services.uow import NeedsDatabase

UNMATCHED = "<unmatched>"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "meshkeys_http_requests_total",
            "HTTP requests answered by the API.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "meshkeys_http_request_duration_seconds",
            "Time to answer an API request.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.key_operations = Counter(
            "meshkeys_key_operations_total",
            "Key operations through the API, by action and outcome.",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.verifications = Counter(
            "meshkeys_webhook_verifications_total",
            "Webhook signature checks, by result.",
            ["result"],
            registry=self.registry,
        )


def metrics_of(request: Request) -> Metrics:
    return request.app.state.metrics


# ---------------------------------------------------------------- key action log lines


_OUTCOMES: dict[type[errors.DomainError], str] = {
    errors.InvalidInput: "invalid",
    errors.Unauthenticated: "unauthenticated",
    errors.PermissionDenied: "denied",
    errors.NotFound: "not_found",
    errors.Conflict: "conflict",
    errors.RateLimited: "rate_limited",
}


# The data plane: a sender signs on every delivery, thousands of times a second. Its successes
# are counted (``meshkeys_key_operations_total``), and logged only with MESHKEYS_LOG_SIGNING=on,
# as verify's successes are counted and never logged; its refusals are logged like any other.
DATA_PLANE = frozenset({"sign", "sign_batch"})


@dataclass
class KeyAction:
    """What a key action touched; the route fills in what it learns from the service."""

    key_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@contextmanager
def key_action(request: Request, action: str, actor: Actor, **known: Any) -> Iterator[KeyAction]:
    """Count and log one key action (``generate``, ``revoke``...) with its outcome."""
    note = KeyAction(
        key_id=known.pop("key_id", None), project_id=known.pop("project_id", None), fields=known
    )
    outcome: str | None = "ok"
    try:
        yield note
    except NeedsDatabase:
        outcome = None  # not an outcome: the action runs again with the database (api.deps)
        raise
    except errors.DomainError as exc:
        outcome = next((v for k, v in _OUTCOMES.items() if isinstance(exc, k)), "error")
        raise
    except Exception:
        outcome = "error"
        raise
    finally:
        if outcome is not None:
            _count_and_log(request, action, actor, note, outcome)


def _count_and_log(
    request: Request, action: str, actor: Actor, note: KeyAction, outcome: str
) -> None:
    metrics_of(request).key_operations.labels(action, outcome).inc()
    if outcome == "ok" and action in DATA_PLANE and not get_settings().log_signing:
        return
    logging.getLogger(KEY_LOGGER).log(
        logging.INFO if outcome == "ok" else logging.WARNING,
        "key.%s",
        action,
        extra={
            "outcome": outcome,
            "actor_id": str(actor.user_id),
            "actor": actor.email,
            "project_id": str(note.project_id) if note.project_id else None,
            "key_id": str(note.key_id) if note.key_id else None,
            "client_ip": client_address(
                request.client.host if request.client else None,
                request.headers.get("x-forwarded-for"),
                get_settings().trusted_proxies,
            ),
            **{k: str(v) for k, v in note.fields.items() if v is not None},
        },
    )
