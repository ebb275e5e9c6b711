"""/projects/[project_id]/webhooks: the webhook tester.

Sign: the headers the project's active keys give a pasted payload, and a ``curl`` that sends
it. Verify: which key verifies pasted headers and payload, or why none does
(``services.verification``). Only headers, the payload and key names and ids reach the state:
a key's secret never leaves the services.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from urllib.parse import urlsplit

import reflex as rx

from meshkeys.services import signing, verification
from meshkeys.services.errors import DomainError, InvalidInput, has_control_chars
from meshkeys.ui.state.session import SessionState, SignedOut

DEFAULT_URL = "https://example.com/webhook"
# The tester shows what it signs; the API signs bodies up to 1 MiB.
MAX_PAYLOAD_CHARS = 64 * 1024
MAX_URL_CHARS = 2000
HEADER_ORDER = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclasses.dataclass
class HeaderItem:
    name: str
    value: str


@dataclasses.dataclass
class KeyItem:
    id: str
    short_id: str
    name: str


def _payload(form: dict, field: str = "payload") -> str:
    payload = str(form.get(field, "") or "")
    if not payload:
        raise InvalidInput("Paste a payload first: the webhook's body, exactly as sent.")
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise InvalidInput(
            f"The tester takes payloads of at most {MAX_PAYLOAD_CHARS // 1024} KiB; "
            "POST /webhooks/sign signs up to 1 MiB."
        )
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("The payload is not text that UTF-8 can encode.") from None
    return payload


def _timestamp(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput("The timestamp is whole seconds since the epoch, e.g. 1767225600.")
    return int(raw)


def target_url(raw: str) -> str:
    url = raw.strip() or DEFAULT_URL
    parts = urlsplit(url) if len(url) <= MAX_URL_CHARS else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or has_control_chars(url)
        or any(c.isspace() for c in url)
    ):
        raise InvalidInput("The URL starts with https:// or http:// and has no spaces.")
    return url


def curl_command(url: str, headers: dict[str, str], payload: str) -> str:
    """A shell command that POSTs ``payload`` with ``headers`` to ``url``: every argument
    quoted for a POSIX shell (a payload with single quotes, ``$`` or newlines arrives as is)."""
    try:
        json.loads(payload)
        content_type = "application/json"
    except ValueError:
        content_type = "text/plain"
    lines = [
        f"curl -X POST {shlex.quote(url)}",
        f"-H {shlex.quote('content-type: ' + content_type)}",
    ]
    lines += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items()]
    lines.append(f"--data-binary {shlex.quote(payload)}")
    return " \\\n  ".join(lines)


class WebhooksState(SessionState):
    # Sign: the headers of the last payload signed, as items and as "Name: value" lines.
    signed: list[HeaderItem] = []
    signed_text: str = ""
    curl: str = ""
    # Verify: the last outcome.
    checked: bool = False
    valid: bool = False
    reason: str = ""
    message: str = ""
    matched: KeyItem = KeyItem("", "", "")
    tried: list[KeyItem] = []

    def _clear_verdict(self) -> None:
        self.checked, self.valid, self.reason, self.message = False, False, "", ""
        self.matched, self.tried = KeyItem("", "", ""), []

    @rx.event
    def load(self):
        self.signed, self.signed_text, self.curl = [], "", ""
        self._clear_verdict()
        return self._load_page(project=True)

    @rx.event
    def sign(self, form: dict):
        def work() -> tuple[dict[str, str], str]:
            payload = _payload(form)
            url = target_url(str(form.get("url", "") or ""))
            msg_id = str(form.get("msg_id", "") or "").strip() or None
            headers = self._call(
                signing.sign_payload,
                project_id=self._route_project_id(),
                payload=payload.encode("utf-8"),
                msg_id=msg_id,
                timestamp=_timestamp(str(form.get("timestamp", "") or "")),
            )
            ordered = {name: headers[name] for name in HEADER_ORDER if name in headers}
            ordered.update(headers)
            return ordered, curl_command(url, ordered, payload)

        def done(result: tuple[dict[str, str], str]):
            headers, self.curl = result
            self.signed = [HeaderItem(name, value) for name, value in headers.items()]
            self.signed_text = "\n".join(f"{name}: {value}" for name, value in headers.items())
            count = len(headers.get("webhook-signature", "").split())
            return rx.toast.success(f"Signed with {count} active key{'s' if count != 1 else ''}.")

        yield from self._action("sign", work, done)

    @rx.event
    def verify(self, form: dict):
        self.busy = "verify"
        yield
        self._clear_verdict()
        try:
            headers = verification.parse_header_lines(str(form.get("headers", "") or ""))
            payload = _payload(form)
            outcome = self._call(
                verification.explain_verification,
                project_id=self._route_project_id(),
                payload=payload.encode("utf-8"),
                headers=headers,
            )
        except InvalidInput as exc:
            self.busy = ""
            self.checked, self.reason, self.message = True, "input", exc.message
            return
        except (SignedOut, DomainError) as exc:
            self.busy = ""
            yield self._failed(exc)
            return
        self.busy = ""
        self.checked, self.valid = True, outcome.valid
        self.reason, self.message = outcome.reason, outcome.message
        if outcome.key is not None:
            self.matched = KeyItem(str(outcome.key.id), outcome.key.short_id, outcome.key.name)
        self.tried = [KeyItem(str(k.id), k.short_id, k.name) for k in outcome.tried]
