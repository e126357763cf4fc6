"""Bad input found by a new user: one line naming the field, exit code 2, and no run
folder left behind that would refuse the corrected command."""

from __future__ import annotations

import pytest

from loadwise.app.rundir import undone_on_error, write_run_info
from loadwise.cli import main
from loadwise.errors import ConfigError


def _fails(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "Traceback" not in err and "\n" not in err, err
    return err


@pytest.mark.parametrize(("content", "message"), [
    (bytes(range(128, 256)) * 8, "not a UTF-8 text file (byte 0x80 at offset 0)"),
    (b"change_number,target\n1,\x00a\n", "not a text file (it holds NUL bytes)"),
])
def test_replay_of_a_binary_file_names_the_file(tmp_path, capsys, content, message):
    trace = tmp_path / "trace.csv"
    trace.write_bytes(content)
    err = _fails(["sq", "replay", str(trace)], capsys)
    assert err == f"error: {trace}: {message}"


def test_a_spec_file_that_is_not_text_names_the_file(tmp_path, capsys):
    spec = tmp_path / "sim.yaml"
    spec.write_bytes(b"\xff\xfe\x00n")
    err = _fails(["tune", "--system", str(spec), "--out", str(tmp_path / "r")], capsys)
    assert err.startswith(f"error: {spec}: not a UTF-8 text file") and not (tmp_path / "r").exists()


@pytest.mark.parametrize(("storage", "message"), [
    ("nosuchdb://x", "--storage: 'nosuchdb://x': unknown database 'nosuchdb'"),
    ("not a url", "--storage: 'not a url' is not a database URL"),
    ("sqlite:///{tmp}/no/such/folder/study.db", "/no/such/folder does not exist"),
    ("sqlite:///{tmp}", "is a folder, not a database file"),
])
def test_a_storage_that_cannot_open_leaves_no_run_folder(tmp_path, capsys, storage, message):
    out = tmp_path / "r"
    err = _fails(["tune", "--system", "synthetic", "--scenarios", "synthetic5", "--trials", "2",
                  "--storage", storage.format(tmp=tmp_path), "--out", str(out)], capsys)
    assert message in err
    assert not out.exists()


def test_undone_on_error_takes_back_a_new_run_but_nothing_else(tmp_path):
    fresh, given = tmp_path / "fresh", tmp_path / "given"
    for folder, is_fresh in ((fresh, True), (given, False)):
        folder.mkdir()
        (folder / "mine.txt").write_text("kept unless the run made the folder")
        with pytest.raises(ConfigError), undone_on_error(folder, is_fresh):
            write_run_info(folder, "tune", {})
            raise ConfigError("storage", "cannot open the database")
    assert not fresh.exists()
    assert [p.name for p in given.iterdir()] == ["mine.txt"]


def test_after_an_error_the_same_folder_takes_the_corrected_command(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()  # the user made the folder; the failed tune must not leave run.json in it
    argv = ["tune", "--system", "synthetic", "--scenarios", "synthetic5", "--trials", "2", "--jobs", "1",
            "--backend", "inline", "--out", str(out)]
    _fails([*argv, "--storage", f"sqlite:///{tmp_path}"], capsys)  # a folder, not a database file
    assert list(out.iterdir()) == []
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert (out / "run.json").is_file() and (out / "result.json").is_file()


@pytest.mark.parametrize("command", [["demo"], ["serve", "sweep"], ["mq", "compare"]])
def test_an_out_folder_that_cannot_be_made_names_out(capsys, command):
    err = _fails([*command, "--out", "/proc/loadwise-nope"], capsys)
    assert err == "error: --out: cannot create the folder /proc/loadwise-nope (No such file or directory)"


@pytest.mark.parametrize(("argv", "message"), [
    (["tune", "--trials", "x"], "error: Invalid value for '--trials'"),
    (["tune", "--no-such-flag"], "error: No such option: --no-such-flag"),
    (["sq", "run", "--traffic", "abc"], "error: --traffic: expected a finite number"),
    (["sq", "run", "--scenario", "[/x]"], "error: --scenario: unknown scenario '[/x]'"),  # not rich markup
    (["sq", "run", "--scenario", "[bold]x"], "error: --scenario: unknown scenario '[bold]x'"),
])
def test_flag_errors_are_one_line(capsys, argv, message):
    assert _fails(argv, capsys).startswith(message)


def test_an_error_is_one_line_even_when_the_input_holds_line_breaks():
    err = ConfigError("scenarios.a\nb", "bad value 'x\ny'")
    assert str(err) == "scenarios.a\\nb: bad value 'x\\ny'" and err.field == "scenarios.a\\nb"
    assert str(ConfigError("traffic", "número ≥ 0")) == "traffic: número ≥ 0"
