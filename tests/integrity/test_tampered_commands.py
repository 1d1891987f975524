"""`events`, `rebuild` and `verify-notice` on a store tampered with by SQL (a flipped byte, a middle event deleted,
two events swapped), on both stores: a clear one-line error naming the first bad position, never a traceback."""

from __future__ import annotations

import pytest
from integrity_scenario import RawLog, Scenario, rectify
from test_verify import TAMPERING

KINDS = ("bytes that no longer decode", "a middle event deleted", "two payloads swapped", "two rows reordered")


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = rectify("--database-url", url, *args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("tampering", KINDS)
def test_commands_on_a_tampered_store_name_the_damage_in_one_line(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog, tampering: str
) -> None:
    position, _ = TAMPERING[tampering](raw)
    notice = str(scenario.notices[0])

    code, _, err = run(capsys, scenario.url, "verify-notice", notice)
    assert code == 1 and "Traceback" not in err
    assert err.startswith("rectify: verify-notice: the log does not verify, at position ") and err.count("\n") == 1
    assert f"at position {position}:" in err  # the first bad position, as `rectify verify` names it

    for command in (["events"], ["events", "--json"], ["rebuild"]):
        code, _, err = run(capsys, scenario.url, *command)
        assert "Traceback" not in err, err
        if code != 0:  # a command that could read on anyway has nothing to say; one that could not says why
            assert code == 1 and err.count("\n") == 1, err
            assert err.startswith(f"rectify: {command[0]}: the log is damaged at position {position}:"), err
    if tampering == "bytes that no longer decode":
        code, _, err = run(capsys, scenario.url, "events")
        assert code == 1 and f"the log is damaged at position {position}: " in err


def test_verify_notice_on_a_clean_store_still_rebuilds_the_notice(
    capsys: pytest.CaptureFixture[str], scenario: Scenario
) -> None:
    code, out, err = run(capsys, scenario.url, "verify-notice", str(scenario.notices[0]))
    assert code == 0, err
    assert "OK: the notice rebuilt from the log is byte-identical" in out
