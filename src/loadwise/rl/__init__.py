"""Training the load-aware router: PPO-Lagrangian in torch over the rate × budget grid.

Modules, in the order a reader needs them:

- `constraint` — what a budget violation costs (`bust:ε` or `ratio:c`);
- `lagrange` — the multipliers (shared, per budget tier or per cell), projected ascent;
- `ppo` — GAE, the Lagrangian advantage and the clipped PPO update;
- `features` — the networks' inputs, built once from a decision batch's raw state;
- `policies` — planner and executor networks (separate; actor and critic trunks separate);
- `router` — the trained `PolicyRouter` (batched planner and executor calls, decision log);
- `episodes` — workflows as episodes: decisions + outcomes → advantages and returns;
- `sampling` — which (rate, budget) cells an epoch visits (uniform, weighted, curriculum);
- `config`, `checkpoint` — what defines a run (`config.REFERENCE_SETUP`: the reference
  system's setup, to compare ours with) and everything needed to resume it;
- `train` — one epoch at a time: rollout, PPO, λ (`loadwise.app.train_router` runs the loop);
- `evaluate` — trained router vs baselines and the oracle, per cell, with paired CIs;
- `gym_env` — the serving simulator as a `gymnasium.Env`, for other RL libraries.
"""
