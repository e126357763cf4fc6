"""Training the load-aware router: PPO-Lagrangian in torch over the rate × budget grid.

Modules, in the order a reader needs them:

- `constraint` — what a budget violation costs (`bust:ε` or `ratio:c`);
- `lagrange` — the multipliers (shared, per budget tier or per cell), projected ascent;
- `ppo` — GAE, the Lagrangian advantage and the clipped PPO update;
- `policies` — planner and executor networks (separate; actor and critic trunks separate);
- `features`, `router` — decision batches → network inputs; the trained `PolicyRouter`;
- `episodes` — workflows as episodes: decisions + outcomes → advantages and returns;
- `grid` — which (rate, budget) cells an epoch visits (uniform, weighted, curriculum);
- `train`, `checkpoint` — the training loop, run folder, checkpoints and resume
  (`train.REFERENCE_SETUP`: the reference system's setup, to compare ours with);
- `evaluate`, `report` — trained router vs baselines and the oracle; the seed's tables;
- `demo` — a one-minute training and evaluation for `loadwise demo`.

Entry points: `train.train(TrainConfig(...), out)`, `evaluate.evaluate_checkpoint(path)`,
`report.build_report(evaluation)`, `router.load_router(path)`, `demo.demo_router(folder)`.
"""
