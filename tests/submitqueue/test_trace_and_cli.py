"""Trace replay of build-history CSVs, and the `loadwise sq` commands."""

import json
import subprocess
import sys

import pytest

from loadwise.errors import ConfigError
from loadwise.systems.submitqueue import CLASSIC_METRICS, load_trace, replay_csv

HEADER = "change_number,target,creation_time_millis,success,flake,timestamp,hour,is_bad"
HOUR_MS = 3_600_000
START_MS = 1_700_000_000_000


def write_history(path, hours=6, per_hour=30, targets=8, broken=(), flaky=()):
    """A build history: `per_hour` changes in each of `hours` hours, each tested on every
    target; `broken`/`flaky` list (change_number, target index) pairs that fail / flake."""
    lines = [HEADER]
    number = 100
    for h in range(hours):
        for i in range(per_hour):
            created = START_MS + h * HOUR_MS + i * 1000
            for t in range(targets):
                success = (number, t) not in broken
                flake = (number, t) in flaky
                bad = any(n == number for n, _ in broken)
                lines.append(f"{number},//pkg:test_{t},{created},{str(success).lower()},"
                             f"{str(flake).lower()},{created},{h % 24},{str(bad).lower()}")
            number += 1
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_clean_history_lands_everything_at_once(tmp_path):
    m = replay_csv(write_history(tmp_path / "h.csv"))
    assert m["trace_changes"] == 180 and m["trace_targets"] == 8 and m["trace_hours"] == 6
    assert m["changes_landed"] == 180 and m["in_flight"] == 0
    assert m["verifications"] == 0 and m["mb_pass_rate"] == 1.0
    assert m["wait_time_min"] == m["wait_time_max"] == 1
    assert m["avg_submit_time"] == 2.0  # one-hour ticks
    assert m["slowdown"] == pytest.approx(1.0)


def test_a_failing_target_is_a_hard_culprit_that_never_lands(tmp_path):
    path = write_history(tmp_path / "h.csv", broken={(107, 3)})
    m = replay_csv(path, {"verify_latency": 1})
    assert m["culprits_created"] == 1
    assert m["culprits_rejected"] == 1 and m["culprits_escaped"] == 0
    # every other change landed: in its first round (its minibatches passed), or
    # after a solo verification when all its minibatches held the culprit
    assert m["changes_landed"] == 179 and m["in_flight"] == 0
    assert m["innocents_rejected"] == 0
    assert m["verifications"] == m["innocent_flagged"] + 1
    assert m["wait_time_max"] <= 1 + 1 + 1  # round, queue for verification, verification


def test_flaky_and_failed_targets_become_effects(tmp_path):
    trace = load_trace(write_history(tmp_path / "h.csv", broken={(107, 3)}, flaky={(150, 1), (151, 1)}))
    assert trace.marked_bad == 1 and trace.ntests == 8 and trace.ticks == 6
    assert sorted(trace.effect_value.tolist()) == [0.0, 0.5, 0.5]
    assert trace.effect_ptr[-1] == 3


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("7,//t,1000,maybe,false,1000,0,false", "h.csv:3: column success: expected true or false, got 'maybe'"),
        ("7,//t,soon,true,false,1000,0,false", "h.csv:3: column creation_time_millis: expected an integer, got 'soon'"),
        ("7,//t,1000,true,false,1000", "h.csv:3: expected 8 fields, got 6"),
        ("7,//t,1000,true,false,1000,25,false", "h.csv:3: column hour: expected 0-23, got 25"),
        ("7,,1000,true,false,1000,0,false", "h.csv:3: column target: empty"),
        ("7,//u,2000,true,false,1000,0,false", "h.csv:3: change 7: creation_time_millis/is_bad differ from line 2"),
        ("7,//t,1000,true,false,1000,0,false", "h.csv:3: change 7: target '//t' appears twice"),
    ],
)
def test_malformed_rows_are_reported_with_their_line(tmp_path, row, message):
    path = tmp_path / "h.csv"
    path.write_text(f"{HEADER}\n7,//t,1000,true,false,1000,0,false\n{row}\n")
    with pytest.raises(ConfigError) as info:
        load_trace(path)
    assert str(info.value).endswith(message)


def test_missing_column_and_empty_files(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("change_number,target,success\n1,a,true\n")
    with pytest.raises(ConfigError, match=r"h.csv:1: missing column 'creation_time_millis'"):
        load_trace(path)
    path.write_text(HEADER + "\n")
    with pytest.raises(ConfigError, match="no data rows"):
        load_trace(path)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_trace(tmp_path / "absent.csv")


def loadwise(*args):
    return subprocess.run(
        [sys.executable, "-c", "from loadwise.cli import main; main()", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_sq_run_json_has_every_classic_metric_and_flags_override_the_preset():
    out = loadwise("sq", "run", "--scenario", "crisis", "--traffic", "10", "--ticks", "200", "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(CLASSIC_METRICS) <= set(result)
    assert result["scenario"]["traffic"] == 10.0  # the flag wins over the preset's 20
    assert result["scenario"]["culprit_prob"] == 0.08  # the preset's value
    assert result["ideal_per_tick"] == 250.0
    assert result["measured_ticks"] == 200
    assert {"objective_classic", "objective_default"} <= set(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resources", "-3"], "error: --resources: -3 is below the minimum (integer in [1, 10000])"),
        (["--maxk", "many"], "error: --maxk: expected an integer (integer in [1, 64]), got 'many'"),
        (["--flaketol", "1.5"], "error: --flaketol: 1.5 is above the maximum (number in [0, 1])"),
        (["--scenario", "storm"], "error: --scenario: unknown scenario 'storm'; allowed: normal, spike, low, flaky, crisis"),
    ],
)
def test_sq_run_bad_flags_give_one_line_and_exit_2(args, message):
    out = loadwise("sq", "run", *args)
    assert out.returncode == 2
    assert out.stderr.strip() == message


def test_sq_replay_prints_metrics(tmp_path):
    path = write_history(tmp_path / "h.csv", hours=2, per_hour=10, targets=3)
    out = loadwise("sq", "replay", str(path), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(CLASSIC_METRICS) <= set(result)
    assert result["changes_landed"] == 20
    table = loadwise("sq", "replay", str(path))
    assert table.returncode == 0 and "changes_landed" in table.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n1,a,x,true,false,0,0,false\n")
    out = loadwise("sq", "replay", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {bad}:2: column creation_time_millis: expected an integer, got 'x'"
