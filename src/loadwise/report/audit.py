"""The audit in words: the answers to its three questions, and the report of its findings.

Every sentence and table here is written from an AuditResult's numbers; nothing is
computed that the findings do not hold. `audit_summary` gives the answers the
application layer also stores in audit.json; `audit_report` builds the whole report
(the seed's sections).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from loadwise.auditing.pipeline import AuditResult
from loadwise.auditing.recommend import MAX_EXTRAPOLATION
from loadwise.report import audit_figures as figures
from loadwise.report.document import Report
from loadwise.report.format import (
    finite,
    number,
    number_list,
    p_value,
    percent_ci,
    signed_percent,
    tally,
    value_range,
    words,
)


def probe_reason(probe: dict, measured: list[float]) -> str:
    """Why a probe rate is proposed instead of a grid change (`measured`: the measured rates)."""
    lo, hi = min(measured), max(measured)
    many = len(probe["regimes"]) > 1
    return (f"the fitted model places the {words(probe['regimes'])} regime{'s' if many else ''} at rate{'s' if many else ''} "
            + ", ".join(number(x) for x in probe["fitted_rates"])
            + f", more than x{number(MAX_EXTRAPOLATION, 6)} outside the measured rates {number(lo, 6)}-{number(hi, 6)}: too far to trust; "
            f"measure rate {number(probe['rate'], 6)} first (--verify simulates it)")


def audit_summary(result: AuditResult) -> dict:
    """The three questions, answered from the findings."""
    f, tables = result.findings, result.tables
    missing, recs = f["regimes"]["missing"], f["recommendations"]["rates"]
    lowest = f["regimes"]["by_rate"][0]
    measured = [x["rate"] for x in f["regimes"]["by_rate"]]
    idle_share = float(tables.by_rate.loc[lowest["rate"], "idle_share"])
    unmeasured = f["grid"]["out_of_grid"]["target_rates_without_data"]
    if not missing:
        q1 = "Yes: every regime has a rate in the grid (" + ", ".join(
            f"{number(x['rate'], 6)} → {x['regime']}" for x in f["regimes"]["by_rate"]) + ")."
    else:
        q1 = (f"No: the grid misses the {words(missing)} regime{'s' if len(missing) > 1 else ''}. "
              f"The lowest rate, {number(lowest['rate'], 6)}, has mean queue depth {number(lowest['mean_queue'])} ({lowest['regime']}); "
              f"{number(100 * idle_share)} % of its steps see a queue below {number(f['options']['regimes'][0]['upper'], 6)}.")
        if recs:
            q1 += " Add " + "; ".join(
                f"rate {number(r['rate'], 6)} for {r['regime']} (fitted queue {number(r['predicted_queue'])}"
                + (f", 95 % CI {number(r['predicted_queue_ci'][0])}–{number(r['predicted_queue_ci'][1])}" if finite(r["predicted_queue_ci"][0]) else "")
                + ")" for r in recs) + "."
        for p in f["recommendations"]["probes"]:
            reason = probe_reason(p, measured)
            q1 += f" {reason[0].upper()}{reason[1:]}."
        if f["queue_fit"] is None:
            q1 += " No rate can be recommended: queue depth does not grow with rate in these data, so the fit cannot be inverted."
    if unmeasured:
        q1 += f" Target rate{'s' if len(unmeasured) > 1 else ''} {number_list(unmeasured)} {'have' if len(unmeasured) > 1 else 'has'} no telemetry."
    pairs = f["tiers"]["pairs"]
    redundant = [p for p in pairs if p["redundant"]]
    if not pairs:
        q2 = "Not testable: the grid has one budget tier."
    elif redundant:
        q2 = "Yes: " + "; ".join(
            f"{number(p['tiers'][0], 6)} s and {number(p['tiers'][1], 6)} s are indistinguishable (Holm-adjusted p: violation "
            f"{p_value(p['holm_p']['violation'])}, model mix {p_value(p['holm_p']['model_mix'])}, strategy mix "
            f"{p_value(p['holm_p']['strategy_mix'])})" for p in redundant) + ". Drop " + ", ".join(
            f"{number(b, 6)} s" for b in f["recommendations"]["tiers"]["drop"]) + "."
    else:
        def smallest_p(pair: dict) -> float:
            return min((v for v in pair["holm_p"].values() if finite(v)), default=float("nan"))

        tested = [p for p in pairs if finite(smallest_p(p))]
        untested = [p for p in pairs if p not in tested]
        q2 = f"No: {len(tested)} of {len(pairs)} adjacent pairs of tiers differ in at least one test (Holm-adjusted p < {number(f['options']['alpha'], 6)})"
        if tested:
            closest = max(tested, key=smallest_p)
            q2 += (f"; the closest pair, {number(closest['tiers'][0], 6)}/{number(closest['tiers'][1], 6)} s, has smallest adjusted p "
                   f"{p_value(smallest_p(closest))}")
        if untested:
            q2 += ("; not testable (a tier without data): "
                   + ", ".join(f"{number(p['tiers'][0], 6)}/{number(p['tiers'][1], 6)} s" for p in untested))
        q2 += f". Adjacent ratios: {', '.join(f'{number(r)}' for r in f['tiers']['spacing']['adjacent_ratios'])}."
    adds = f["recommendations"]["tiers"]["add"]
    if adds:
        q2 += " Add tier" + ("s " if len(adds) > 1 else " ") + ", ".join(f"{number(a['budget'], 6)} s" for a in adds) + "."
    c = f["cost"]
    if c["new"]["rates"] == c["old"]["rates"] and c["new"]["budgets"] == c["old"]["budgets"]:
        q3 = f"No change recommended; the current grid takes {number(c['old']['steps_per_epoch'])} role steps per epoch."
    else:
        q3 = (f"{signed_percent(c['steps_change'])} role steps per epoch ({number(c['old']['steps_per_epoch'])} → "
              f"{number(c['new']['steps_per_epoch'])}; rates {number_list(c['old']['rates'])} → {number_list(c['new']['rates'])}"
              + (f", budgets {number_list(c['old']['budgets'])} → {number_list(c['new']['budgets'])}" if c["new"]["budgets"] != c["old"]["budgets"] else "")
              + ").")
        if "seconds_change" in c:
            q3 += (f" Wall-clock per epoch {number(c['old']['seconds_per_epoch'])} s → {number(c['new']['seconds_per_epoch'])} s "
                   f"({signed_percent(c['seconds_change'])}; from {c['wall_clock_source']}).")
        else:
            q3 += " Wall-clock not estimated: the telemetry has no dispatch times (give --epoch-seconds)."
    return {"rates_sufficient": not missing, "tiers_redundant": bool(redundant),
            "q1_rates": q1, "q2_tiers": q2, "q3_cost": q3}


def audit_report(result: AuditResult) -> Report:
    """The audit report: summary, tables, regimes, tiers, policy checks, recommendations,
    cost, verification and method."""
    f, t = result.findings, result.tables
    src, grid = f["source"], f["grid"]
    rep = Report(f"Scenario audit: {Path(src['path']).name or src['path']}")

    oog = grid["out_of_grid"]
    notes = [
        f"Telemetry: {src['path']} ({src['format']}), {src['steps']:,} role steps and {src['workflows']:,} workflows.",
        (f"Grid: rates {number_list(grid['rates'])} (from the {grid['rates_from']}), budgets {number_list(grid['budgets'])} s "
         f"(from the {grid['budgets_from']})."),
        f"Outside the grid and left out of every table: {oog['steps']:,} role steps and {oog['workflows']:,} workflows"
        + (f" (rates {tally(oog['off_grid_rates'])}" if oog["off_grid_rates"] else "")
        + (f"; budgets {tally(oog['off_grid_budgets'])}" if oog["off_grid_budgets"] else "")
        + (")" if oog["off_grid_rates"] or oog["off_grid_budgets"] else "") + ".",
    ]
    absent = [f"{name} ({', '.join(fields)})" if src[name] else f"{name} (no rows at all)"
              for name, fields in src["absent_fields"].items() if fields]
    if absent:
        notes.append("Fields the telemetry does not have (figures that need them are left empty or marked n/a): "
                     + "; ".join(absent) + ".")
    if src["ignored_rows"]:
        notes.append("Rows of other record types, ignored: " + tally(src["ignored_rows"]) + ".")
    if src["format"] == "reference-csv":
        notes.append("The reference system's workflow latency excludes the final decision step, so violation rates "
                     "from its CSV are lower than loadwise's own measure would be.")
    rep.bullets(notes)

    s = audit_summary(result)
    recs = f["recommendations"]["rates"]
    adds = f["recommendations"]["tiers"]
    answer = (f"Are the arrival rates sufficient? {s['q1_rates']} Are the budget tiers redundant? {s['q2_tiers']} "
              f"What does the change cost? {s['q3_cost']}")
    rates_to_add = ", ".join(f"{number(r['rate'], 6)} ({r['regime']})" for r in recs) or "none"
    rep.summarize(answer, pd.DataFrame([
        {"question": "rates to add (req/min)", "answer": rates_to_add},
        {"question": "budget tiers to drop (s)", "answer": ", ".join(number(b, 6) for b in adds["drop"]) or "none"},
        {"question": "budget tiers to add (s)", "answer": ", ".join(number(a["budget"], 6) for a in adds["add"]) or "none"},
        {"question": "role steps per epoch", "answer": signed_percent(f["cost"]["steps_change"])
         if f.get("cost") and finite(f["cost"].get("steps_change")) else "no change"},
    ]), next_step="audit.json holds every finding; `loadwise audit TELEMETRY --verify` simulates the recommended rates",
        key={"answer": f"rates to add: {rates_to_add}"})

    rep.heading("Key findings")
    rep.bullets(_findings(f))

    rep.heading("Tables by rate and budget")
    cells = t.cells
    if not cells["workflows"].any():
        rep.paragraph("No workflow rows in the grid: latency, violation and cost-ratio tables need them.")
    rep.table(_grid_table(cells["mean_latency"]), "Table 1: mean workflow latency (s) by rate (rows) and budget (columns)")
    rep.table(_grid_table(cells["p95_latency"]), "Table 2: p95 workflow latency (s)")
    viol = cells.apply(lambda r: percent_ci(r["violation_rate"], r["violation_ci_low"], r["violation_ci_high"]), axis=1)
    rep.table(_grid_table(viol), "Table 3: budget violation rate, % (95 % Wilson interval)")
    rep.table(_grid_table(cells["cost_ratio"]), "Table 4: mean cost ratio (workflow latency / budget)")
    counts = cells["workflows"].astype(float)
    rep.table(_grid_table(counts), "Workflows per cell")

    rep.heading("Load by rate")
    br = t.by_rate
    regimes = {x["rate"]: x["regime"] for x in f["regimes"]["by_rate"]}
    idle = f["options"]["regimes"][0]
    load = pd.DataFrame({
        "rate": [number(r, 6) for r in br.index], "role steps": br["steps"].to_numpy(),
        "mean queue depth": br["mean_queue"].to_numpy(),
        f"% steps with queue < {number(idle['upper'], 6)} ({idle['name']})": 100 * br["idle_share"].to_numpy(),
        "regime": [regimes.get(r, "no data") for r in br.index], "mean workflow latency (s)": br["mean_latency"].to_numpy(),
    })
    rep.table(load, "Table 5: queue depth at dispatch (running + waiting at the chosen server) by rate")
    mq = t.model_queue.T
    mq.columns = [f"rate {number(c, 6)}" for c in mq.columns]
    rep.table(mq.rename_axis("model"), "Table 6: mean queue depth at dispatch per model", index=True)
    for n, (which, by) in enumerate((("model", "rate"), ("strategy", "rate"), ("model", "budget"), ("strategy", "budget")), start=7):
        if which == "strategy" and t.strategy_counts.shape[1] == 0:
            rep.paragraph(f"Table {n}: no strategy in the telemetry.")
            continue
        mix = 100 * t.mix(which, by).T
        mix.columns = [f"{by} {number(c, 6)}" for c in mix.columns]
        rep.table(mix.rename_axis(which), f"Table {n}: {which} selection, % of role steps, by {by}", index=True)
    rep.figure(figures.mix_by_rate(result, "model"), "model_mix_by_rate", "Model mix by rate")
    if t.strategy_counts.shape[1]:
        rep.figure(figures.mix_by_rate(result, "strategy"), "strategy_mix_by_rate", "Strategy mix by rate")

    rep.heading("Regimes and gaps")
    bounds = ", ".join(f"{g['name']} < {number(g['upper'], 6)}" for g in f["options"]["regimes"][:-1]) + f", else {f['options']['regimes'][-1]['name']}"
    rep.paragraph(f"Each rate is labelled by its mean queue depth at dispatch ({bounds}). "
                  f"Missing regimes: {', '.join(f['regimes']['missing']) or 'none'}.")
    jumps = pd.DataFrame([{"from rate": number(j['from'], 6), "to rate": number(j['to'], 6), "rate ratio": j["rate_ratio"],
                           "queue from": j["queue_from"], "queue to": j["queue_to"], "queue ratio": j["queue_ratio"],
                           "latency ratio": j["latency_ratio"]} for j in f["regimes"]["jumps"]])
    if len(jumps):
        rep.table(jumps, "Adjacent rates: queue and mean workflow latency ratios")
    fit = f["queue_fit"]
    if fit:
        cands = ", ".join(f"{k} {number(v)}" for k, v in fit["candidates_sse_log"].items())
        rep.paragraph(f"Queue model: {fit['model']}, fitted {fit['formula']} over {fit['n_rates']} rates "
                      f"(residual SSE on log scale: {cands}; the smaller wins).")
    else:
        rep.paragraph("Queue model: not fitted (fewer than two rates with a positive queue, or queue depth not growing with rate).")
    rep.figure(figures.queue_vs_rate(result), "queue_vs_rate", "Mean queue depth by rate; bands: regimes; line: fitted model")

    rep.heading("Budget tiers")
    sp = f["tiers"]["spacing"]
    rep.paragraph(f"Tiers {number_list(sp['budgets'])} s; relative to the tightest: {number_list([round(x, 3) for x in sp['relative_to_tightest']])}; "
                  f"adjacent ratios {number_list([round(x, 3) for x in sp['adjacent_ratios']])} (geometric mean "
                  f"{number(sp['geometric_mean_ratio'])}, coefficient of variation of the log ratios {number(sp['log_ratio_cv'])}; "
                  f"0 is perfectly geometric spacing).")
    ts = pd.DataFrame([{
        "budget (s)": number(r['budget'], 6), "workflows": r["workflows"],
        "violation % (95 % CI)": percent_ci(r["violation_rate"], r["violation_ci_low"], r["violation_ci_high"]),
        "violation % range over rates": value_range(r["violation_min"], r["violation_max"], 100),
        "mean cost ratio": r["cost_ratio"], "cost ratio range over rates": value_range(r["cost_ratio_min"], r["cost_ratio_max"], 1),
    } for r in f["tiers"]["summary"]])
    rep.table(ts, "Per tier, pooled over rates")
    if f["tiers"]["pairs"]:
        pt = pd.DataFrame([{
            "tiers (s)": f"{number(p['tiers'][0], 6)} / {number(p['tiers'][1], 6)}",
            "violation % (low / high)": f"{number(100 * p['effects']['violation_rate_low_tier'])} / {number(100 * p['effects']['violation_rate_high_tier'])}",
            "CMH p (Holm)": p_value(p["holm_p"]["violation"]),
            "model mix V": p["effects"]["model_mix_cramers_v"], "model mix p (Holm)": p_value(p["holm_p"]["model_mix"]),
            "strategy mix V": p["effects"]["strategy_mix_cramers_v"], "strategy mix p (Holm)": p_value(p["holm_p"]["strategy_mix"]),
            "verdict": "redundant" if p["redundant"] else "distinct",
        } for p in f["tiers"]["pairs"]])
        rep.table(pt, f"Adjacent tiers compared under equal load (α = {number(f['options']['alpha'], 6)}, Holm-adjusted over all "
                      f"{3 * len(f['tiers']['pairs'])} tests)")
    rep.figure(figures.violation_heatmap(result), "violation_heatmap", "Budget violation rate by rate × budget")

    rep.heading("Policy checks")
    rows = []
    for across in ("load", "budget"):
        for which in ("model", "strategy"):
            c = f["policy"][across][which]
            ch = c["largest_share_change"]
            rows.append({"check": f"{which} mix vs {'rate' if across == 'load' else 'budget'}",
                         "X²": c["test"]["statistic"], "df": c["test"]["df"], "p": p_value(c["test"]["p_value"]),
                         "Cramér's V": c["cramers_v"],
                         "largest share change": f"{ch['category']}: {number(100 * ch['min'])}–{number(100 * ch['max'])} %" if ch else "",
                         "verdict": c["verdict"]})
    rep.table(pd.DataFrame(rows), "Sensitivity of the mix (stratified chi-square; strata: the other grid axis)")
    col = f["policy"]["collapse"]
    con = f["policy"]["constraint"]
    tops = [f"{which} {col[which]['top']} at {number(100 * col[which]['share'])} % of steps" for which in ("model", "strategy")
            if col[which]["top"] is not None]
    bl = ["Collapse: the most chosen " + " and ".join(tops)
          + (" — collapsed to one choice (> 90 %)." if col["model"]["collapsed"] or col["strategy"]["collapsed"] else " (no collapse; threshold 90 %).")]
    if con:
        bl.append(f"Constraint at the tightest tier ({number(con['tightest_budget'], 6)} s): violation {percent_ci(con['violation_rate'], *con['violation_ci'])} "
                  f"against the limit ε = {number(100 * con['violation_limit'])} % → {con['status']}; mean cost ratio "
                  f"{number(con['cost_ratio_mean'])} (95 % CI {number(con['cost_ratio_ci'][0])}–{number(con['cost_ratio_ci'][1])}) against 1.")
    rep.bullets(bl)

    rep.heading("Recommendations")
    recs = f["recommendations"]["rates"]
    if recs:
        rt = pd.DataFrame([{"regime": r["regime"], "target queue": r["target_queue"], "rate to add": number(r['rate'], 6),
                            "fitted queue": r["predicted_queue"],
                            "95 % CI": f"{number(r['predicted_queue_ci'][0])}–{number(r['predicted_queue_ci'][1])}" if finite(r["predicted_queue_ci"][0]) else "n/a",
                            "extrapolation": r["extrapolation"] or "within the measured range"} for r in recs])
        rep.table(rt, "Rates to add, from inverting the fitted queue model at the middle of each missing regime")
    elif not f["recommendations"]["probes"]:
        rep.paragraph("Rates: none to add" + (" (every regime is covered)." if not f["regimes"]["missing"] else
                                              " (the queue model could not be fitted or inverted)."))
    if f["recommendations"]["probes"]:
        measured = [x["rate"] for x in f["regimes"]["by_rate"]]
        rep.bullets([f"Probe rate {number(p['rate'], 6)} for {', '.join(p['regimes'])}: {probe_reason(p, measured)}."
                     for p in f["recommendations"]["probes"]])
    ch = f["recommendations"]["tiers"]
    tb = [f"Drop {number(b, 6)} s (indistinguishable from its neighbour)." for b in ch["drop"]]
    tb += [f"Add {number(a['budget'], 6)} s: {a['reason']}." for a in ch["add"]]
    rep.bullets(tb or ["Tiers: keep as they are (no redundant pair, no oversized gap)."])

    rep.heading("Cost of the new grid")
    c = f["cost"]
    ct = [{"grid": "current", "rates": number_list(c["old"]["rates"]), "budgets": number_list(c["old"]["budgets"]),
           "role steps / epoch": c["old"]["steps_per_epoch"], "seconds / epoch": c["old"].get("seconds_per_epoch", math.nan)},
          {"grid": "recommended", "rates": number_list(c["new"]["rates"]), "budgets": number_list(c["new"]["budgets"]),
           "role steps / epoch": c["new"]["steps_per_epoch"], "seconds / epoch": c["new"].get("seconds_per_epoch", math.nan)}]
    rep.table(pd.DataFrame(ct), f"Per epoch (telemetry holds {c['epochs_in_telemetry']} epoch(s); per-epoch figures are means)")
    rep.paragraph("Role steps: measured cells keep their counts; new cells take the mean of measured cells at the same "
                  "budget (new rate) or rate (new budget). Wall-clock: " + (
                      f"measured per rate from {c['wall_clock_source']}; a new rate takes its arrival span "
                      f"(workflows × 60 / rate) plus the median drain of the measured rates ({number(c['median_drain_seconds'])} s)."
                      if "seconds_change" in c else "not estimated (no dispatch times; give --epoch-seconds)."))

    v = f.get("verification")
    rep.heading("Verification by simulation")
    if v is None:
        rep.paragraph("Not run (use --verify to simulate the recommended rates).")
    else:
        rep.paragraph(v["description"])
        vt = pd.DataFrame([{"rate": number(p['rate'], 6), "regime aimed at": p["regime"], "fitted queue": p["predicted_queue"],
                            "simulated queue": p["simulated_queue"], "simulated regime": p["simulated_regime"],
                            "simulated model mix": ", ".join(f"{k} {number(100 * x)} %" for k, x in p["model_mix"].items())}
                           for p in v["points"]])
        rep.table(vt, "Predicted (fitted) vs simulated at the recommended rates")

    rep.heading("Method")
    rep.bullets([
        "Violation rate intervals: Wilson score, 95 %.",
        ("Tier redundancy: per adjacent pair, Cochran-Mantel-Haenszel test of violation (strata: rates) and stratified "
         "Pearson chi-square of model and strategy mix; Holm's adjustment over all pairs × tests; redundant when no "
         f"adjusted p is below α = {number(f['options']['alpha'], 6)}."),
        ("Load and budget sensitivity: stratified Pearson chi-square (strata: the other grid axis), Cramér's V as effect "
         "size; 'sensitive' needs p < α and V ≥ 0.1."),
        ("Queue model: power law q = a·rate^b or M/M/1 shape q = a·rate/(1 − rate/c), least squares on log q, the "
         "better fit used; recommended rates invert it at the middle of the missing regime's band, rounded to two "
         "significant figures."),
    ])
    return rep


def _grid_table(series: pd.Series) -> pd.DataFrame:
    g = series.unstack("budget")
    g.columns = [f"budget {number(b, 6)}" for b in g.columns]
    g.index = [number(r, 6) for r in g.index]
    return g.rename_axis("rate").reset_index()


def _findings(f: dict) -> list[str]:
    out = []
    reg = f["regimes"]
    out.append("Regime per rate: " + ", ".join(
        f"{number(x['rate'], 6)} → {x['regime']} (queue {number(x['mean_queue'])})" for x in reg["by_rate"] if x["mean_queue"] is not None) + ".")
    j = reg["largest_jump"]
    if j:
        out.append(f"Largest jump between adjacent rates: {number(j['from'], 6)} → {number(j['to'], 6)} (queue {number(j['queue_from'])} → "
                   f"{number(j['queue_to'])}, ×{number(j['queue_ratio'])}"
                   + (f"; mean workflow latency {number(j['latency_from'])} s → {number(j['latency_to'])} s, ×{number(j['latency_ratio'])}" if j["latency_ratio"] else "")
                   + ").")
    for across in ("load", "budget"):
        c = f["policy"][across]["model"]
        ch = c["largest_share_change"]
        out.append(f"Model mix vs {'rate' if across == 'load' else 'budget'}: {c['verdict']} (p {p_value(c['test']['p_value'])}, "
                   f"Cramér's V {number(c['cramers_v'])}"
                   + (f"; largest change {ch['category']} {number(100 * ch['min'])}–{number(100 * ch['max'])} %" if ch else "") + ").")
    con = f["policy"]["constraint"]
    if con:
        out.append(f"Tightest tier {number(con['tightest_budget'], 6)} s: violation {percent_ci(con['violation_rate'], *con['violation_ci'])} % "
                   f"vs limit {number(100 * con['violation_limit'])} % → {con['status']}.")
    return out
