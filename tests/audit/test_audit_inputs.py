"""Bad input gives one clear error; the CLI prints it as one line and exits 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st
from scipy.stats.contingency import association

import loadwise
from loadwise.auditing import stats
from loadwise.auditing.queue_fit import fit_queue, nice_rate
from loadwise.auditing.regimes import label, parse_regimes
from loadwise.cli import main
from loadwise.errors import ConfigError


@pytest.mark.parametrize(("text", "message"), [
    ("idle=3,light=2", "^regimes: bounds must be positive and increasing; light=2 is not above 3$"),
    ("idle=x", "^regimes: 'idle=x': 'x' is not a number$"),
    ("idle,light=6", "^regimes: 'idle' needs an upper bound"),
    ("idle=3,idle=6", "^regimes: regime 'idle' is named twice$"),
    ("saturated", "^regimes: give at least one bound"),
])
def test_bad_regimes(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_regimes(text)


def test_regimes_default_and_custom():
    r = parse_regimes(None)
    assert [(g.name, g.upper) for g in r] == [("idle", 3), ("light", 6), ("moderate", 15), ("heavy", 30), ("saturated", math.inf)]
    assert [label(q, r) for q in (0, 2.99, 3, 8.15, 29.9, 34.78)] == ["idle", "idle", "light", "moderate", "heavy", "saturated"]
    r = parse_regimes("calm=1,busy=10,overload")
    assert [g.name for g in r] == ["calm", "busy", "overload"] and label(50, r) == "overload"


def test_audit_errors_name_the_problem(tiered_folder, tmp_path):
    with pytest.raises(ConfigError, match=r"^rates_target: no role steps at these grid points \(rates in the data: 50, 100, 150, 200"):
        loadwise.audit(tiered_folder, rates_target=[20, 30])
    with pytest.raises(ConfigError, match="^alpha: must be between 0 and 1$"):
        loadwise.audit(tiered_folder, alpha=2)
    (tmp_path / "wf.csv").write_text("record_type,arrival_rate,budget_total,workflow_latency_seconds\nepisode,50,10,3\n")
    with pytest.raises(ConfigError, match="^telemetry: no role-step rows"):
        loadwise.audit(tmp_path / "wf.csv")
    with pytest.raises(ConfigError, match="^mapping: a column mapping applies to CSV files only"):
        loadwise.audit(tiered_folder, mapping={"a": "rate"})


def test_cli_prints_one_line_and_exits_2(tiered_folder, tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("record_type,arrival_rate,budget_total,model_name,llm_running,llm_waiting\n"
                                      "role_step,50,10,m,1,0\nrole_step,50,10,m,one,0\n")
    for argv, message in (
        (["audit", str(tmp_path / "bad.csv")], "error: bad.csv line 3: column 'llm_running' (field running): 'one' is not an integer"),
        (["audit", str(tiered_folder), "--rates-target", "50,x"], "error: --rates-target: expected comma-separated numbers, got '50,x'"),
        (["audit", str(tiered_folder), "--map", "nonsense"], "error: --map: expected COLUMN=FIELD, got 'nonsense'"),
        (["audit", str(tiered_folder), "--regimes", "idle=3,light=1"], "error: --regimes: bounds must be positive and increasing"),
        (["audit", str(tiered_folder), "--map", "a=rate"], "error: --map: a column mapping applies to CSV files only"),
        (["audit", str(tiered_folder), "--rates-target", "20,30"], "error: --rates-target: no role steps at these grid points"),
        (["audit", str(tiered_folder), "--alpha", "2"], "error: --alpha: must be between 0 and 1"),
        (["audit", str(tiered_folder), "--violation-limit", "0"], "error: --violation-limit: must be between 0 and 1"),
        (["audit", str(tiered_folder), "--epoch-seconds", "-1"], "error: --epoch-seconds: must be a positive number of seconds"),
        (["audit", str(tmp_path / "bad.csv"), "--map", "a=speed"], "error: --map: a=speed: 'speed' is not a telemetry field"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(message) and "\n" not in err, err
    assert not (tmp_path / "runs").exists()


def test_cli_writes_the_report(tiered_folder, tmp_path, capsys):
    main_ok = ["audit", str(tiered_folder), "--out", str(tmp_path / "rep"), "--regimes", "idle=3,light=6,moderate=15,heavy=30"]
    with pytest.raises(SystemExit) as exc:
        main(main_ok)
    assert exc.value.code == 0
    err = capsys.readouterr().err
    assert "No: the grid misses the idle and light regimes" in err
    assert {p.name for p in (tmp_path / "rep").iterdir()} >= {"report.md", "report.html", "audit.json", "run.json", "queue_vs_rate.png"}


def test_audit_run_writes_a_run_folders_report_where_asked(tiered_folder, tmp_path):
    from loadwise.app.audit import audit_run

    result = audit_run(tiered_folder, tmp_path / "demo" / "audit")
    assert result.paths["html"] == tmp_path / "demo" / "audit" / "report.html" and result.paths["html"].exists()
    assert result.report.title.startswith("Scenario audit")


# the statistics, against scipy or hand-computed values


def test_wilson_known_values():
    lo, hi = stats.wilson(5, 20)
    assert (float(lo), float(hi)) == pytest.approx((0.1118617, 0.4687009), abs=1e-6)
    assert float(stats.wilson(0, 50)[0]) == 0.0 and float(stats.wilson(50, 50)[1]) == 1.0


def test_chi_square_and_cramers_v_match_scipy():
    t = np.array([[30, 20, 10], [10, 25, 25]])
    r = stats.stratified_chi2([t])
    chi2, p, dof, _ = st.chi2_contingency(t, correction=False)
    assert (r.statistic, r.df, r.p_value) == pytest.approx((chi2, dof, p))
    assert stats.cramers_v(t) == pytest.approx(association(t, method="cramer"))
    both = stats.stratified_chi2([t, t])
    assert (both.statistic, both.df) == pytest.approx((2 * chi2, 2 * dof))


def test_cmh_hand_computed():
    # one stratum: CMH with continuity correction = (|a - E| - 0.5)^2 / V
    t = np.array([[[10, 90], [30, 70]]])
    a, e = 10, 100 * 40 / 200
    v = 100 * 100 * 40 * 160 / (200 ** 2 * 199)
    r = stats.cmh_2x2(t)
    assert r.statistic == pytest.approx((abs(a - e) - 0.5) ** 2 / v)
    assert r.p_value == pytest.approx(st.chi2.sf(r.statistic, 1))


def test_holm():
    assert stats.holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])


def test_queue_fits_recover_known_curves():
    rates = np.array([50.0, 100.0, 150.0, 200.0])
    fit, _ = fit_queue(rates, 0.02 * rates ** 1.4)
    assert fit.kind == "power" and (fit.a, fit.b) == pytest.approx((0.02, 1.4))
    fit, _ = fit_queue(rates, 0.1 * rates / (1 - rates / 260.0))
    assert fit.kind == "mm1" and (fit.a, fit.b) == pytest.approx((0.1, 260.0), rel=1e-4)
    assert fit.invert(float(fit.predict(37.0))) == pytest.approx(37.0)
    assert fit_queue(rates, np.array([9.0, 8.0, 7.0, 6.0]))[0] is None  # queue falling with rate: no inverse
    assert (nice_rate(9.43), nice_rate(27.16), nice_rate(123.4)) == (9.4, 27.0, 120.0)


def test_data_without_a_grid_asks_for_one():
    import pandas as pd

    from loadwise.auditing.pipeline import run_audit
    from loadwise.systems.agentserve.telemetry import Telemetry

    n = 400
    steps = pd.DataFrame({"rate": np.arange(n, dtype=float) + 1, "budget": 10.0, "model": "m", "strategy": "flash",
                          "queue_depth": 1})
    empty = pd.DataFrame({"rate": [], "budget": [], "workflow_latency": [], "violated": [], "cost_ratio": []})
    with pytest.raises(ConfigError, match=r"^rates_target: no value carries 1 % of the role steps \(400 distinct values\)"):
        run_audit(Telemetry(steps, empty))
