"""The API's audit export sends pieces of about 64 KiB, not one per line (bench/audit_export.py)."""

from __future__ import annotations

from meshkeys.api.routes.audit import in_chunks


def test_lines_are_joined_into_pieces_of_about_the_size_and_nothing_is_lost():
    lines = [f"{n:05d}\n" for n in range(1000)]  # 6 characters each
    pieces = list(in_chunks(iter(lines), size=600))
    assert "".join(pieces) == "".join(lines)
    assert len(pieces) == 10 and all(len(p) == 600 for p in pieces)


def test_a_short_export_is_one_piece_and_an_empty_one_none():
    assert list(in_chunks(iter(["a\n", "b\n"]))) == ["a\nb\n"]
    assert list(in_chunks(iter([]))) == []
