"""The errors `forecast` raises for bad input; the CLI turns each into one `Error: …` line."""


class ForecastError(Exception):
    """Something the user can fix: the message says what is wrong and how to fix it."""


class DataError(ForecastError):
    """A price file cannot be read, or holds too little usable data."""


class ConfigError(ForecastError):
    """An option value, or a combination of them, cannot work."""


class ArtifactError(ForecastError):
    """A model folder is missing, incomplete, corrupt, or from an incompatible version."""


class TrainingFailed(ForecastError):
    """Every training of a multi-model run died (each one's reason is in the message)."""
