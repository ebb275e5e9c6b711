"""Page cursors: whatever a client sends back is a cursor meshkeys made, or InvalidInput."""

from __future__ import annotations

import pytest

from meshkeys.services import cursors
from meshkeys.services.errors import InvalidInput


@pytest.mark.parametrize(
    "parts", [["n", "name", ["not", "hex"]], ["c", "2026-01-01T00:00:00+00:00", True]]
)
def test_a_cursor_whose_key_id_is_not_text_is_invalid_input(parts):
    """Found by tests/security/test_hostile_input.py: uuid.UUID(hex=[...]) raised AttributeError."""
    cursor = cursors._encode(parts)
    with pytest.raises(InvalidInput):
        (cursors.decode_name if parts[0] == "n" else cursors.decode_created)(cursor)
