"""Fit model profiles from role-step telemetry (loadwise's own or the reference CSV).

Pure: a Telemetry and the base profile in, a `Calibration` out; `loadwise.app.calibrate`
reads the telemetry, writes the fitted profile file and the fit report.

Service time, per model: a call that found a free slot (waiting = 0) does work =
output tokens + prefill_cost x prompt_tokens (prompt length is not logged, so the
profile's typical prompt is used) at one token per tpot x (1 + tpot_growth x ln n(t)) s,
n(t) = requests running. When dispatch times are logged (loadwise telemetry), n(t) is
rebuilt per server from all its calls (running = min(in system, max_num_seqs)), so
work x tpot = integral of dt / (1 + tpot_growth ln n(t)) over the call; tpot_growth is
found by a bounded 1-D search minimizing the spread of log(integral / work), and tpot
is the geometric-mean ratio. Without dispatch times (reference CSV), n = running + 1 at
dispatch and ordinary least squares of latency / work on ln n gives tpot (intercept) and
tpot_growth (slope / intercept); this understates the batch a call shares over its life.
max_num_seqs is the largest running count seen while requests waited (kept when none
waited). Calls that waited are left out of the fit (their latency includes queueing).

Accuracy: a logistic regression of `correct` on the profile's model, with theta per
model, delta for flash and deepthink (concise is the reference, delta = 0) and kappa per
strategy; gamma and the workflow bonuses (role/subject match, CoT) are taken from the
base profile as known offsets. Only calls that see no other answers enter the fit when
the topology says which those are; otherwise (reference CSV) all non-decision calls do,
which biases theta towards the workflows' peer effects (stated in the report).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit

from loadwise.errors import ConfigError
from loadwise.systems.agentserve.profiles import LEVEL_CENTER, Profiles, profiles_from_dict
from loadwise.systems.agentserve.routing import DECISION_ROLE_NAME, ROLES, STRATEGIES, SUBJECTS, TOPOLOGIES, model_size
from loadwise.systems.agentserve.telemetry import Telemetry
from loadwise.systems.agentserve.workflows import COT, ROLE_AFFINITY, template

MIN_ROWS = 30  # fewer usable rows than this: the parameter keeps its base value
LOAD_BINS = (0, 1, 2, 4, 8, 16, 32, 10**9)  # running-count bins of the fit report


@dataclass
class Calibration:
    """Fitted profile, per-model summary, and the tables of the fit report."""

    profiles: Profiles
    summary: pd.DataFrame          # one row per model: rows used, old and new parameters
    latency_by_load: pd.DataFrame  # observed vs predicted per-token time by running count
    accuracy: pd.DataFrame         # observed vs predicted accuracy by model and strategy
    notes: list[str] = field(default_factory=list)


def _model_index(names: pd.Series, prof: Profiles) -> np.ndarray:
    """Profile index of each telemetry model name (exact, or by size such as '3B'); -1 if none."""
    lookup: dict[str, int] = {}
    shorts = [model_size(n) for n in prof.model_names]
    for raw in names.dropna().unique():
        text = str(raw)
        if text in prof.model_names:
            lookup[text] = prof.model_names.index(text)
            continue
        tail = text.split("/")[-1]
        if tail in prof.model_names:
            lookup[text] = prof.model_names.index(tail)
            continue
        s = model_size(tail)
        if shorts.count(s) == 1:
            lookup[text] = shorts.index(s)
    return names.map(lambda v: lookup.get(str(v), -1) if pd.notna(v) else -1).to_numpy(dtype=np.int64)


def _calls_without_inputs(steps: pd.DataFrame, workflows: pd.DataFrame) -> np.ndarray | None:
    """True for calls that see no other answer, from topology + agent count; None when unknown."""
    if "topology" not in steps or steps["topology"].isna().all() or workflows.empty:
        return None
    agents = workflows.set_index(["run_id", "epoch", "workflow_id"])["n_agents"]
    agents = agents[~agents.index.duplicated()]
    key = pd.MultiIndex.from_frame(steps[["run_id", "epoch", "workflow_id"]])
    n = agents.reindex(key).to_numpy()
    topo = steps["topology"].map({t: i for i, t in enumerate(TOPOLOGIES)}).to_numpy()
    idx = steps["step_index"].to_numpy()
    out = np.zeros(len(steps), dtype=bool)
    for i, (t, k, j) in enumerate(zip(topo, n, idx)):
        if pd.notna(t) and pd.notna(k) and 1 <= k <= 6:
            tpl = template(int(t), int(k))
            out[i] = 0 <= j < tpl.n_calls - 1 and not tpl.inputs[int(j)]
    return out


def fit_service(steps: pd.DataFrame, model: np.ndarray, prof: Profiles) -> tuple[dict[str, np.ndarray], list[str]]:
    """tpot, tpot_growth and max_num_seqs per model from calls that did not wait."""
    notes: list[str] = []
    tpot, growth, cap = prof.tpot.copy(), prof.tpot_growth.copy(), prof.max_num_seqs.copy()
    used = np.zeros(len(prof.model_names), dtype=np.int64)
    strategy = steps["strategy"].str.lower().map({s: i for i, s in enumerate(STRATEGIES)}).to_numpy()
    tokens = steps["output_tokens"].to_numpy(dtype=float)
    no_tokens = ~(tokens > 0)
    if no_tokens.any():
        fill = prof.mean_tokens[np.nan_to_num(strategy, nan=1).astype(int)]
        tokens = np.where(no_tokens, fill, tokens)
        notes.append(f"{int(no_tokens.sum())} calls without output_tokens: the strategy's mean length was used")
    latency = steps["step_latency"].to_numpy(dtype=float)
    running = steps["running"].to_numpy(dtype=float)
    waiting = steps["waiting"].to_numpy(dtype=float)
    timed = "dispatch_time" in steps and steps["dispatch_time"].notna().all()
    for m, name in enumerate(prof.model_names):
        mine = model == m
        queued = mine & (waiting > 0)
        if queued.any():
            cap[m] = int(np.nanmax(running[queued]))
        ok = mine & (waiting == 0) & np.isfinite(latency) & (latency > 0) & (running >= 0)
        used[m] = int(ok.sum())
        if used[m] < MIN_ROWS:
            notes.append(f"{name}: {used[m]} usable calls (< {MIN_ROWS}); service time kept from the base profile")
            continue
        work = tokens[ok] + prof.prefill_cost[m] * prof.workflow.prompt_tokens
        if timed:
            tpot[m], growth[m] = _fit_from_timeline(steps, mine, ok, work, int(cap[m]))
            continue
        y = latency[ok] / work
        x = np.log(running[ok] + 1.0)
        if np.ptp(x) == 0:
            tpot[m] = float(np.mean(y) / (1.0 + growth[m] * x[0]))
            notes.append(f"{name}: one load level only; tpot_growth kept from the base profile")
            continue
        b, a = np.polyfit(x, y, 1)
        if a <= 0:
            notes.append(f"{name}: fitted intercept {a:.3g} <= 0; service time kept from the base profile")
            continue
        tpot[m], growth[m] = float(a), float(max(b, 0.0) / a)
    return {"tpot": tpot, "tpot_growth": growth, "max_num_seqs": cap, "service_rows": used}, notes


def _fit_from_timeline(steps: pd.DataFrame, mine: np.ndarray, ok: np.ndarray, work: np.ndarray,
                       cap: int) -> tuple[float, float]:
    """(tpot, tpot_growth) of one model from the running counts rebuilt from dispatch times."""
    starts = steps["dispatch_time"].to_numpy(dtype=float)
    ends = starts + steps["step_latency"].to_numpy(dtype=float)
    groups = steps.groupby(["run_id", "epoch"], sort=False, dropna=False).indices
    timelines = []  # per server: (segment times, running per segment, starts/ends of the fitted calls)
    for idx in groups.values():
        sel = np.zeros(len(steps), dtype=bool)
        sel[idx] = True
        server = sel & mine
        fitted = sel[ok]  # which fitted calls (in ok order) belong to this run
        if not fitted.any():
            continue
        d, e = starts[server], ends[server]
        times = np.unique(np.concatenate([d, e]))
        count = np.searchsorted(np.sort(d), times[:-1], side="right") - np.searchsorted(np.sort(e), times[:-1], side="right")
        running = np.clip(count, 1, cap).astype(float)
        timelines.append((times, running, starts[ok][fitted], ends[ok][fitted], work[fitted]))

    def spread(g: float) -> tuple[float, float]:
        logs = []
        for times, running, d, e, w in timelines:
            F = np.concatenate([[0.0], np.cumsum(np.diff(times) / (1.0 + g * np.log(running)))])
            integral = F[np.searchsorted(times, e)] - F[np.searchsorted(times, d)]
            logs.append(np.log(np.maximum(integral, 1e-12)) - np.log(w))
        r = np.concatenate(logs)
        return float(np.var(r)), float(np.exp(np.mean(r)))

    best = minimize_scalar(lambda g: spread(g)[0], bounds=(0.0, 20.0), method="bounded", options={"xatol": 1e-4})
    return spread(best.x)[1], float(best.x)


def fit_accuracy(steps: pd.DataFrame, model: np.ndarray, prof: Profiles,
                 lone: np.ndarray | None) -> tuple[dict[str, np.ndarray], list[str]]:
    """theta per model, delta and kappa per strategy by maximum likelihood."""
    notes: list[str] = []
    strategy = steps["strategy"].str.lower().map({s: i for i, s in enumerate(STRATEGIES)}).to_numpy()
    decision = steps["role"].eq(DECISION_ROLE_NAME).to_numpy() | steps["is_decision"].fillna(False).to_numpy(bool)
    level = steps["level"].to_numpy(dtype=float)
    correct = steps["correct"]
    keep = (model >= 0) & ~np.isnan(strategy.astype(float)) & ~decision & (level >= 1) & (level <= 5) \
        & correct.notna().to_numpy()
    if lone is not None:
        keep &= lone
    else:
        notes.append("topology unknown: accuracy fitted on all non-decision calls (peer effects inflate theta)")
    n = int(keep.sum())
    out = {"theta": prof.theta.copy(), "delta": prof.delta.copy(), "kappa": prof.kappa.copy(),
           "accuracy_rows": np.array([int((keep & (model == m)).sum()) for m in range(len(prof.model_names))])}
    if n < MIN_ROWS:
        notes.append(f"{n} usable calls for accuracy (< {MIN_ROWS}); accuracy parameters kept from the base profile")
        return out, notes
    m, s = model[keep], strategy[keep].astype(int)
    lv = level[keep] - LEVEL_CENTER
    y = correct.to_numpy()[keep].astype(float)
    role_idx = steps["role"].map({r: i for i, r in enumerate(ROLES)}).to_numpy()[keep]
    subj_idx = steps["subject"].map({x: i for i, x in enumerate(SUBJECTS)}).to_numpy()[keep]
    affinity = np.array([ROLE_AFFINITY[int(r)][int(j)] if pd.notna(r) and pd.notna(j) else 0
                         for r, j in zip(role_idx, subj_idx)], dtype=float)
    cot = steps["topology"].eq(TOPOLOGIES[COT]).fillna(False).to_numpy(bool)[keep]
    offset = prof.workflow.role_bonus * affinity + prof.workflow.cot_bonus * cot
    gamma = prof.gamma[s]
    M, S = len(prof.model_names), len(STRATEGIES)
    ref = STRATEGIES.index("concise")
    free_delta = [k for k in range(S) if k != ref]

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        theta, kappa = x[:M], x[M:M + S]
        delta = np.zeros(S)
        delta[free_delta] = x[M + S:]
        return theta, delta, kappa

    def nll(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta, delta, kappa = unpack(x)
        z = theta[m] * (1 + gamma) + delta[s] - kappa[s] * lv + offset
        p = expit(z)
        r = p - y  # d(-loglik)/dz
        eps = 1e-12
        f = -np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + 1e-4 * np.sum(x**2)
        g_theta = np.bincount(m, r * (1 + gamma), minlength=M)
        g_kappa = np.bincount(s, -r * lv, minlength=S)
        g_delta = np.bincount(s, r, minlength=S)[free_delta]
        return f, np.concatenate([g_theta, g_kappa, g_delta]) + 2e-4 * x

    x0 = np.concatenate([prof.theta, prof.kappa, prof.delta[free_delta]])
    res = minimize(nll, x0, jac=True, method="L-BFGS-B")
    theta, delta, kappa = unpack(res.x)
    seen_m = np.bincount(m, minlength=M) >= MIN_ROWS
    seen_s = np.bincount(s, minlength=S) >= MIN_ROWS
    out["theta"] = np.where(seen_m, theta, prof.theta)
    out["delta"] = np.where(seen_s, delta, prof.delta)
    out["kappa"] = np.where(seen_s, kappa, prof.kappa)
    notes += [f"{prof.model_names[k]}: too few calls for accuracy; theta kept from the base profile"
              for k in np.flatnonzero(~seen_m)]
    return out, notes


def fit_profiles(tel: Telemetry, base: Profiles, source: str) -> Calibration:
    """Fit a profile from loaded telemetry; parameters without enough data keep `base` values."""
    steps = tel.steps
    if steps.empty:
        raise ConfigError(source, "no role-step rows to calibrate from")
    model = _model_index(steps["model"], base)
    notes = []
    if (model < 0).any():
        unknown = sorted(steps.loc[model < 0, "model"].dropna().astype(str).unique())[:5]
        notes.append(f"{int((model < 0).sum())} calls of models not in the profile ignored: {', '.join(unknown)}")
    service, n1 = fit_service(steps, model, base)
    accuracy, n2 = fit_accuracy(steps, model, base, _calls_without_inputs(steps, tel.workflows))
    notes += n1 + n2
    spec = base.spec.model_dump()
    label = f"fitted by loadwise serve calibrate from {source}"
    for i, mdl in enumerate(spec["models"]):
        for key in ("tpot", "tpot_growth", "theta"):
            table = service if key in service else accuracy
            mdl[key] = round(float(table[key][i]), 6)
        mdl["max_num_seqs"] = int(service["max_num_seqs"][i])
        if service["service_rows"][i] >= MIN_ROWS:
            mdl["source"].update(tpot=f"{label} ({service['service_rows'][i]} calls)", tpot_growth=label)
        if accuracy["accuracy_rows"][i] >= MIN_ROWS:
            mdl["source"]["theta"] = f"{label} ({accuracy['accuracy_rows'][i]} calls)"
        mdl["math_accuracy"] = None
    for j, st in enumerate(spec["strategies"]):
        st["delta"] = round(float(accuracy["delta"][j]), 6)
        st["kappa"] = round(float(accuracy["kappa"][j]), 6)
        st["source"].update(delta=label, kappa=label)
    fitted = profiles_from_dict(spec, "calibrated profile")
    for i, mdl in enumerate(spec["models"]):
        mdl["math_accuracy"] = round(float(fitted.math_accuracy()[i]), 4)
    fitted = profiles_from_dict(spec, "calibrated profile")
    summary = pd.DataFrame({
        "model": list(base.model_names),
        "service_calls": service["service_rows"],
        "tpot_base": base.tpot, "tpot": fitted.tpot,
        "growth_base": base.tpot_growth, "growth": fitted.tpot_growth,
        "max_num_seqs": fitted.max_num_seqs,
        "accuracy_calls": accuracy["accuracy_rows"],
        "theta_base": base.theta, "theta": fitted.theta,
    })
    return Calibration(fitted, summary, _latency_by_load(steps, model, fitted), _accuracy_table(steps, model, fitted),
                       notes)


def _latency_by_load(steps: pd.DataFrame, model: np.ndarray, prof: Profiles) -> pd.DataFrame:
    """Observed vs fitted per-call service latency of calls that did not wait, by running count."""
    rows = []
    running = steps["running"].to_numpy(dtype=float)
    waiting = steps["waiting"].to_numpy(dtype=float)
    latency = steps["step_latency"].to_numpy(dtype=float)
    tokens = steps["output_tokens"].to_numpy(dtype=float)
    for m, name in enumerate(prof.model_names):
        for lo, hi in itertools.pairwise(LOAD_BINS):
            sel = (model == m) & (waiting == 0) & (running >= lo) & (running < hi) & (tokens > 0)
            if sel.sum() == 0:
                continue
            work = tokens[sel] + prof.prefill_cost[m] * prof.workflow.prompt_tokens
            pred = work * prof.tpot[m] * (1 + prof.tpot_growth[m] * np.log(running[sel] + 1))
            rows.append({"model": model_size(name), "running": f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+",
                         "calls": int(sel.sum()), "observed_s": float(latency[sel].mean()),
                         "predicted_s_n_at_dispatch": float(pred.mean())})
    return pd.DataFrame(rows)


def _accuracy_table(steps: pd.DataFrame, model: np.ndarray, prof: Profiles) -> pd.DataFrame:
    """Observed accuracy of non-decision calls vs the fitted lone-call probability."""
    strategy = steps["strategy"].str.lower()
    level = steps["level"].to_numpy(dtype=float)
    rows = []
    nondecision = ~steps["is_decision"].fillna(False).to_numpy(bool)
    for m, name in enumerate(prof.model_names):
        for j, s in enumerate(STRATEGIES):
            sel = (model == m) & strategy.eq(s).to_numpy() & nondecision & steps["correct"].notna().to_numpy()
            if sel.sum() == 0:
                continue
            z = prof.theta[m] * (1 + prof.gamma[j]) + prof.delta[j] - prof.kappa[j] * (level[sel] - LEVEL_CENTER)
            rows.append({"model": model_size(name), "strategy": s, "calls": int(sel.sum()),
                         "observed": float(steps["correct"].to_numpy()[sel].astype(float).mean()),
                         "predicted_lone_call": float(expit(z).mean())})
    return pd.DataFrame(rows)
