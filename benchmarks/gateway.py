"""Gateway benchmark: routing overhead, throughput, the emulator's timing, sim-to-real, a killed backend.

Every server is a real `loadwise` subprocess on 127.0.0.1 (emulator, gateway), the load
comes from this process; all three share the machine's cores, so the figures include
their contention (the machine's load average is printed with each section).

1. overhead: 50 concurrent closed-loop clients, each request's *excess* = its measured
   latency − the emulator's modeled service time (queueing included) / speedup, i.e.
   what HTTP, the event loops and the gateway add. Run once straight to the emulator and
   once through the gateway (greedy, and the trained router when `--checkpoint` is given
   or a small one trained here); the gateway's overhead is the difference of the two
   excess distributions at p50 and p99. Also the gateway's own time before dispatch
   (reading the request, building the state, deciding), from its answers.
2. throughput: requests per second through the gateway with 200 concurrent clients and
   near-instant backends (speedup 1000), and the gateway's CPU per request.
3. emulator: at speedup 1, load-test cells at the InfraMind rates (10-200 workflows/min,
   `--emulator-seconds` of arrivals each): per call, measured latency / modeled service
   time; and the cell's mean call latency against the simulator's on the same workflows.
4. sim2real: `loadwise router loadtest --compare-sim` through the emulator at `--speedup`
   (20: the target), `--rates` (20/100/200) × budgets 10/50/600, `--workflows` per cell
   (300: the target), with the 95th percentile of the load generator's lag behind its schedule.
5. killed: a load test during which the process serving the 32B model is killed with
   SIGKILL: requests sent, answered, retried, failed with a clear error, lost.

Usage: python benchmarks/gateway.py [--sections overhead,throughput,emulator,sim2real,killed]
           [--workflows 300] [--speedup 20] [--rates 20,100,200] [--emulator-seconds 90]
           [--requests 1000] [--checkpoint PATH] [--out runs/bench-gateway]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from loadwise.app.serve_gateway import server_process as server

SECTIONS = ("overhead", "throughput", "emulator", "sim2real", "killed")


def show(table: pd.DataFrame, fmt: str) -> None:
    """A Markdown table (as BENCHMARKS.md shows them)."""
    cells = [[fmt.format(v) if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    print("| " + " | ".join(map(str, table.columns)) + " |")
    print("|" + "---|" * len(table.columns))
    for row in cells:
        print("| " + " | ".join(row) + " |")


def load_average() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def closed_loop(targets: list[tuple[str, str]], n: int, concurrency: int, speedup: float) -> pd.DataFrame:
    """`concurrency` clients sending `n` requests in all, round-robin over (base URL, model) targets
    (model "auto": the gateway routes); per request: latency, the emulator's modeled service time,
    the gateway's own times."""
    import aiohttp

    from loadwise.gateway.wire import CALL_HEADER, CallContext

    rows = []
    messages = [{"role": "user", "content": "What is 17 * 23? " * 20}]
    # a 10 s budget: the routers pick pairs that answer in seconds, as they would for a tight tier
    headers = {CALL_HEADER: CallContext(strategy="concise", z_length=-1.0).header(), "X-Loadwise-Budget-S": "10"}
    queue = list(range(n))

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            i = queue.pop()
            url, model = targets[i % len(targets)]
            body = {"model": model, "messages": messages, "loadwise": {"z_length": -1.0}}
            start = time.perf_counter()
            async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
                answer = await resp.json()
            end = time.perf_counter()
            ext = answer["loadwise"]
            rows.append({"latency": end - start, "service": ext["service_time"] / speedup,
                         "gateway_s": ext.get("gateway_s", np.nan), "decision_s": ext.get("decision_s", np.nan)})

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    frame = pd.DataFrame(rows)
    frame["excess"] = frame["latency"] - frame["service"]
    return frame


def small_checkpoint(folder: Path) -> Path:
    """A router trained for two short epochs: its weights do not matter here, its decision time does."""
    from loadwise.app.train_router import train_router
    from loadwise.rl.config import TrainConfig

    run = train_router(TrainConfig(rates=(50.0,), budgets=(50.0,), workflows=100, epochs=2, telemetry=False),
                       folder, progress=False)
    return run.run_dir


def overhead(checkpoint: str | None, requests: int) -> pd.DataFrame:
    speedup = 1.0  # real time: 50 requests in flight keep the CPUs far from saturation
    print(f"\n## overhead (50 concurrent, {requests} requests per run, emulator speedup {speedup:g}; {load_average()})")
    rows = []
    with server("serve", "emulate", "--port", "0", "--speedup", str(speedup)) as (_, emu):
        backends = [f"--backend={k}={v}" for k, v in emu["models"].items()]
        targets = [(url, name) for name, url in emu["models"].items()]
        asyncio.run(closed_loop(targets, 100, 50, speedup))  # warm-up: connections, first calls
        direct = asyncio.run(closed_loop(targets, requests, 50, speedup))
        with tempfile.TemporaryDirectory() as tmp:
            routers = {"greedy": ["--router", "greedy"],
                       "trained (PPO)": [checkpoint or str(small_checkpoint(Path(tmp) / "router"))]}
            for label, args in routers.items():
                with server("router", "serve", *args, "--port", "0", "--speedup", str(speedup), *backends) as (_, gw):
                    asyncio.run(closed_loop([(gw["url"], "auto")], 100, 50, speedup))  # warm-up
                    via = asyncio.run(closed_loop([(gw["url"], "auto")], requests, 50, speedup))
                rows.append({
                    "router": label,
                    "excess direct p50 ms": 1e3 * direct["excess"].median(),
                    "excess via gateway p50 ms": 1e3 * via["excess"].median(),
                    "overhead p50 ms": 1e3 * (via["excess"].median() - direct["excess"].median()),
                    "overhead p99 ms": 1e3 * (via["excess"].quantile(0.99) - direct["excess"].quantile(0.99)),
                    "in gateway before dispatch p50 ms": 1e3 * via["gateway_s"].median(),
                    "p99 ms": 1e3 * via["gateway_s"].quantile(0.99),
                    "decision p50 ms": 1e3 * via["decision_s"].median(),
                    "decision p99 ms": 1e3 * via["decision_s"].quantile(0.99),
                })
    table = pd.DataFrame(rows)
    show(table, "{:.2f}")
    return table


def throughput(requests: int) -> pd.DataFrame:
    speedup = 1000.0
    print(f"\n## throughput (200 concurrent, near-instant backends; {load_average()})")
    with server("serve", "emulate", "--port", "0", "--speedup", str(speedup)) as (_, emu):
        backends = [f"--backend={k}={v}" for k, v in emu["models"].items()]
        with server("router", "serve", "--port", "0", "--speedup", str(speedup), *backends) as (proc, gw):
            asyncio.run(closed_loop([(gw["url"], "auto")], 200, 50, speedup))  # warm up
            before, t0 = cpu_seconds(proc.pid), time.perf_counter()
            asyncio.run(closed_loop([(gw["url"], "auto")], requests, 200, speedup))
            seconds, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - before
    table = pd.DataFrame([{"requests": requests, "seconds": seconds, "requests/s": requests / seconds,
                           "gateway CPU ms/request": 1e3 * cpu / requests}])
    show(table, "{:.2f}")
    return table


def emulator_timing(seconds: float, out: Path) -> pd.DataFrame:
    from loadwise.app.loadtest import loadtest

    print(f"\n## emulator at speedup 1 ({seconds:g} s of arrivals per rate; {load_average()})")
    rows = []
    with server("serve", "emulate", "--port", "0", "--speedup", "1") as (_, emu):
        backends = [f"--backend={k}={v}" for k, v in emu["models"].items()]
        with server("router", "serve", "--router", "static-mix", "--port", "0", *backends) as (_, gw):
            for rate in (10, 50, 100, 200):
                n = max(10, int(rate * seconds / 60))
                folder = out / f"emulator-rate{rate}"
                result = loadtest(gw["url"], [rate], [1800], n, out=folder, compare_sim=True, progress=False,
                                  timeout=600)
                steps = pd.read_parquet(next(folder.rglob("steps.parquet")))
                ratio = steps["step_latency"] / steps["service_time"]
                sim_calls = result.comparison  # workflow level; the call level comes from the cells
                rows.append({
                    "rate (workflows/min)": rate, "calls": len(steps),
                    "mean measured / modeled": ratio.mean(), "p95 of abs(measured / modeled - 1)":
                        (ratio - 1).abs().quantile(0.95),
                    "mean call latency s": steps["step_latency"].mean(),
                    "simulator's mean call latency s": _sim_call_latency(rate, n),
                    "workflow latency vs simulator": sim_calls.loc[0, "latency_relative_difference"],
                })
    table = pd.DataFrame(rows)
    show(table, "{:.4g}")
    return table


def _sim_call_latency(rate: float, n: int) -> float:
    from loadwise.systems.agentserve import Cell, make_router, run_cells

    result = run_cells([Cell(rate, 1800, n)], make_router("static-mix"), 0, record=False)[0]
    return result.metrics["mean_step_latency"]


def sim2real(workflows: int, out: Path, speedup: float, rates: list[float]) -> pd.DataFrame:
    from loadwise.app.loadtest import loadtest

    print(f"\n## sim-to-real at speedup {speedup:g}, {workflows} workflows per cell ({load_average()})")
    started = time.perf_counter()
    with server("serve", "emulate", "--port", "0", "--speedup", f"{speedup:g}") as (_, emu):
        backends = [f"--backend={k}={v}" for k, v in emu["models"].items()]
        with server("router", "serve", "--port", "0", "--speedup", f"{speedup:g}", *backends) as (_, gw):
            result = loadtest(gw["url"], rates, [10, 50, 600], workflows, out=out / f"sim2real-x{speedup:g}",
                              compare_sim=True, progress=False)
    t = result.comparison
    shown = pd.DataFrame({
        "rate": t["rate"], "budget": t["budget"], "goodput sim": t["goodput_sim"], "goodput live": t["goodput_real"],
        "difference [95% CI]": [f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for d, lo, hi in
                                zip(t["goodput_difference"], t["goodput_ci_low"], t["goodput_ci_high"])],
        "latency sim s": t["latency_sim"], "latency live s": t["latency_real"],
        "relative [95% CI]": [f"{d:+.1%} [{lo:+.1%}, {hi:+.1%}]" for d, lo, hi in
                              zip(t["latency_relative_difference"], t["latency_ci_low"], t["latency_ci_high"])],
        "within target": t["agrees"],
        "generator's lag p95 s": result.cells["arrival_lag_p95"].to_numpy(),
    })
    show(shown, "{:.3f}")
    print(f"pooled: {json.dumps(result.pooled, default=float)}; {time.perf_counter() - started:.0f} s; "
          f"{load_average()}")
    return t


def killed(out: Path) -> pd.DataFrame:
    from loadwise.app.loadtest import loadtest

    print(f"\n## a backend killed mid-load-test ({load_average()})")
    with server("serve", "emulate", "--port", "0", "--speedup", "20", "--models", "3B,8B,14B,24B") as (_, emu), \
            server("serve", "emulate", "--port", "0", "--speedup", "20", "--models", "32B") as (victim, big):
        backends = [f"--backend={k}={v}" for k, v in {**emu["models"], **big["models"]}.items()]
        with server("router", "serve", "--port", "0", "--speedup", "20", *backends) as (_, gw):
            threading.Timer(5.0, lambda: os.kill(victim.pid, signal.SIGKILL)).start()
            result = loadtest(gw["url"], [100], [50, 600], 200, out=out / "killed", progress=False, timeout=60)
    steps = pd.concat([pd.read_parquet(p) for p in sorted((out / "killed").rglob("steps.parquet"))])
    workflows = pd.concat([pd.read_parquet(p) for p in sorted((out / "killed").rglob("workflows.parquet"))])
    table = pd.DataFrame([{
        "workflows": len(workflows), "calls expected": int(workflows["n_steps"].sum()), "calls recorded": len(steps),
        "answered first time": int(((steps["error"] == "") & (steps["attempts"] == 1)).sum()),
        "answered after a retry": int(((steps["error"] == "") & (steps["attempts"] > 1)).sum()),
        "failed with an error": int((steps["error"] != "").sum()),
        "errors": ", ".join(f"{k} x{v}" for k, v in steps.loc[steps["error"] != "", "error"].value_counts().items()),
        "lost": int(workflows["n_steps"].sum()) - len(steps),
        "cells' goodput": ", ".join(f"{g:.3f}" for g in result.cells["goodput"]),
    }])
    show(table, "{}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--workflows", type=int, default=300, help="per cell of the sim-to-real grid")
    parser.add_argument("--requests", type=int, default=1000, help="per run of the overhead and throughput sections")
    parser.add_argument("--emulator-seconds", type=float, default=90.0)
    parser.add_argument("--speedup", type=float, default=20.0, help="of the sim-to-real section")
    parser.add_argument("--rates", default="20,100,200", help="of the sim-to-real section")
    parser.add_argument("--checkpoint", default=None, help="trained router for the overhead section")
    parser.add_argument("--out", default="runs/bench-gateway")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 220)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; allowed: {', '.join(SECTIONS)}")
    print(f"gateway benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {load_average()}")
    for name in chosen:
        if name == "overhead":
            overhead(args.checkpoint, args.requests).to_csv(out / "overhead.csv", index=False)
        elif name == "throughput":
            throughput(args.requests).to_csv(out / "throughput.csv", index=False)
        elif name == "emulator":
            emulator_timing(args.emulator_seconds, out).to_csv(out / "emulator.csv", index=False)
        elif name == "sim2real":
            rates = [float(r) for r in args.rates.split(",")]
            sim2real(args.workflows, out, args.speedup, rates).to_csv(out / f"sim2real-x{args.speedup:g}.csv",
                                                                     index=False)
        else:
            killed(out).to_csv(out / "killed.csv", index=False)


if __name__ == "__main__":
    main()
