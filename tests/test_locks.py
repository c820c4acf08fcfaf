"""Build locks and the build-once protocol: wait, time out with one line, clean up failed builds."""

from __future__ import annotations

import json

import pytest

from obliviate.engine import build_once
from obliviate.locks import TIMEOUT_ENV, LockTimeout, build_lock, lock_timeout


def test_a_held_lock_times_out_naming_the_lock_file(tmp_path, capsys):
    final = tmp_path / "runs" / "gd-0123"
    with build_lock(final):  # another open file of the same lock conflicts, even in one process
        with pytest.raises(LockTimeout) as err:
            with build_lock(final, timeout=0.3):
                pytest.fail("entered a held lock")
    assert str(err.value) == (
        f"{tmp_path}/runs/.gd-0123.lock: another process still builds gd-0123 after 0.3 s "
        f"(wait longer with {TIMEOUT_ENV}=<seconds>)"
    )
    assert capsys.readouterr().err == (
        f"waiting for {tmp_path}/runs/.gd-0123.lock: another process is building gd-0123\n"
    )
    with build_lock(final, timeout=0.3):  # released by the first holder: taken at once
        pass


def test_lock_timeout_from_the_environment(monkeypatch):
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert lock_timeout() == 6 * 3600
    monkeypatch.setenv(TIMEOUT_ENV, "90")
    assert lock_timeout() == 90.0
    assert lock_timeout(5) == 5  # a parameter wins
    monkeypatch.setenv(TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=f"^{TIMEOUT_ENV}='soon': expected a number of seconds$"):
        lock_timeout()


def test_build_once_publishes_once_and_cleans_up_failed_builds(tmp_path):
    final = tmp_path / "run"
    partial = tmp_path / "run.partial"

    def fail(where):
        (where / "model").mkdir()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        build_once(final, "run.json", fail)
    assert not partial.exists()  # nothing to resume: removed

    def fail_after_a_checkpoint(where):
        (where / "checkpoint").mkdir()
        (where / "checkpoint" / "trainer_state.json").write_text("{}")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        build_once(final, "run.json", fail_after_a_checkpoint)
    assert (partial / "checkpoint" / "trainer_state.json").is_file()  # resumable: kept

    def succeed(where):
        assert (where / "checkpoint").is_dir()  # the retry resumes in the same folder
        return {"ok": 1}

    assert build_once(final, "run.json", succeed) == final
    assert json.loads((final / "run.json").read_text()) == {"ok": 1}
    assert not partial.exists() and not (final / "checkpoint").exists()
    assert build_once(final, "run.json", fail) == final  # complete: not built again
