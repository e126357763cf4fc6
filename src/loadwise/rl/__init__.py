"""Training the load-aware router: PPO-Lagrangian in torch over the rate × budget grid.

Modules, in the order a reader needs them: `constraint` (what a budget violation costs),
`lagrange` (the multipliers), `ppo` (advantages and the clipped update), `policies`
(planner and executor networks).
"""
