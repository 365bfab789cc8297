"""What the network sees and learns: supervised windows and the time split (`windows`), the
target transforms (`targets`), the input channels (`channels`, a registry of objects) and the
recursive roll past the data (`recursive`).

Below `forecast.nets` and `forecast.bands`; may import `forecast.data` and the root modules.
"""
