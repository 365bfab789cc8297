"""The use cases behind the commands: train, predict and plot (`pipeline`), compare, backtest,
tune (with its search `space`), training's stages (`training`) and the worker-process pool
they share (`pool`).

Below `forecast.cli`; may import `forecast.render`, `forecast.forecaster` and everything
beneath them, never the CLI.
"""
