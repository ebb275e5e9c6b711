"""The app's background checkpoint writer (MESHKEYS_AUDIT_CHECKPOINT_DIR)."""

from __future__ import annotations

import asyncio
import json

import pytest

from meshkeys import config
from meshkeys.services import checkpoints


def _run_for(seconds: float, **kwargs) -> bool:
    """Run the writer for ``seconds``; True when it returned by itself."""

    async def main() -> bool:
        task = asyncio.create_task(checkpoints.run_in_background(**kwargs))
        done, _ = await asyncio.wait({task}, timeout=seconds)
        task.cancel()
        return bool(done)

    return asyncio.run(main())


def test_unset_it_does_nothing(db_path, monkeypatch):
    monkeypatch.delenv(config.CHECKPOINT_DIR, raising=False)
    config.reset_settings()
    assert _run_for(1.0) is True


def test_set_it_writes_one_checkpoint_an_hour_however_often_it_polls(
    db_path, monkeypatch, tmp_path
):
    out = tmp_path / "anchors"
    monkeypatch.setenv(config.CHECKPOINT_DIR, str(out))
    config.reset_settings()
    assert _run_for(1.5, poll_seconds=0.1) is False
    (written,) = out.glob("checkpoint-*.json")
    assert json.loads(written.read_text())["format"] == checkpoints.FORMAT
    assert list(out.glob(".*")) == []  # no temporary file left behind


def test_a_failing_write_is_logged_and_the_writer_keeps_going(
    db_path, monkeypatch, tmp_path, caplog
):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(config.CHECKPOINT_DIR, str(blocker / "sub"))
    config.reset_settings()
    assert _run_for(0.5, poll_seconds=0.1) is False
    assert "audit checkpoint failed" in caplog.text


@pytest.mark.parametrize("value", ["", "  "])
def test_a_blank_setting_is_unset(value):
    settings = config.load_settings({config.CHECKPOINT_DIR: value})
    assert settings.audit_checkpoint_dir is None
