"""Domain errors, and the input checks every text field shares.

Each message tells the user what happened and what to do.

The doors map them: API 404/403/409/400, UI toasts, CLI exit codes.
"""

import unicodedata


class DomainError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Unknown, or not visible to the caller (never reveal which)."""


class UnknownUser(NotFound):
    """No account has this email (a member can be invited instead: ``services.invites``)."""


class PermissionDenied(DomainError):
    """The caller is a member but their role is too low."""


class Conflict(DomainError):
    """The change does not fit the current state (already revoked, compromised...)."""


class InvalidInput(DomainError):
    """The input is malformed or out of range."""


class Unauthenticated(DomainError):
    """No valid credentials (bad password, unknown or expired token)."""


class RateLimited(DomainError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """The database did not answer (down, restarting, unreachable): nothing was changed that
    was not committed; the same request can be sent again once it is back."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message or "The database is unavailable: nothing was changed. Try again in a moment."
        )


def has_control_chars(text: str) -> bool:
    """True for NUL, other C0 controls, DEL and lone surrogates: none belongs in a name, an
    email or a search, and PostgreSQL refuses NUL in text outright."""
    if text.isascii():  # the common case (every API token), in C: exactly C0 and DEL
        return not text.isprintable()
    return any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text)


# Format characters (Unicode category Cf) a name may hold: the zero-width joiners that emoji
# sequences and Persian or Indic scripts need. Every other one is invisible and refused.
_JOINERS = {"\u200c", "\u200d"}


def has_invisible_chars(text: str) -> bool:
    """True for bidi controls (U+202E and the rest: U+200E/F, U+202A-E, U+2066-9, U+061C) and
    the other invisible format characters (zero-width space, word joiner, BOM, soft hyphen, tag
    characters...): in a name they spoof how it reads (``"prod\u202eved"`` shows as "prodved"
    reversed) or make two names that look alike differ."""
    return any(unicodedata.category(c) == "Cf" and c not in _JOINERS for c in text)


def clean_name(value: str | None, *, what: str, max_length: int = 200) -> str:
    """A name as typed, trimmed; InvalidInput when empty, too long or with control characters.

    ``what`` names the thing in the message: "Give the key a name of 1 to 200 printable
    characters". Every name meshkeys stores (keys, projects, tokens) goes through here.
    """
    name = (value or "").strip()
    if not name or len(name) > max_length or has_control_chars(name):
        raise InvalidInput(f"Give the {what} a name of 1 to {max_length} printable characters.")
    if has_invisible_chars(name):
        raise InvalidInput(
            f"The {what} name holds an invisible or text-direction character (such as U+202E); "
            "type it again without one."
        )
    return name
