"""Prediction bands: the band methods (`methods`, a registry of objects), split-conformal
calibration (`conformal`), the classical volatility baselines and band scores (`baselines`), and
the words a verdict uses (`verdicts`).

Below `forecast.store`; beside `forecast.nets` (neither imports the other); may import
`forecast.inputs`, `forecast.data` and the root modules.
"""
