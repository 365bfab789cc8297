"""What lives on disk: atomic writes, locks and output-folder checks (`artifacts`), and a model
folder's run.json record (`record`), validated before anything in it is trusted.

Storage never draws or renders. Below `forecast.forecaster`; may import `forecast.bands`,
`forecast.nets`, `forecast.inputs`, `forecast.data` and the root modules.
"""
