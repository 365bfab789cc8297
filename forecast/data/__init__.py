"""Price files in: the loader that reads and cleans the layouts people have (`loader`), the
synthetic generator (`synth`) and the exchange fetcher (`fetch`).

Just above the root modules (`forecast.config`, `forecast.errors`, `forecast.status`,
`forecast.metrics`), which are all it may import.
"""
