"""The application layer: one module per verb, owning run folders, data files and reports.

Each verb (tune, validate, sweep, calibrate, train_router, evaluate_router, audit,
demo, ...) checks its inputs before it creates anything, writes its run folder
(`rundir`), shows progress (`progress`), calls pure code below it (systems,
scenarios, evaluate, tuning, rl, auditing) and renders its report (`loadwise.report`).
The command line calls exactly one verb per command; `import loadwise` exposes them all.
"""
