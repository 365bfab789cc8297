"""What else the network sees besides the close: input channels, one object each.

Channel 0 is always the target's input transform (forecast.inputs.targets). More channels may
follow, each a per-day quantity standardised with the mean and standard deviation of the
training part only. A channel says which columns of the price table it needs, how its raw value
is computed from them, and (optionally) how it moves on a day a recursive forecast invents; a new
channel is one `Channel` subclass and one `register` call. `--features ohlcv` picks these:

* return — log(close / previous close); left out when the target is `return` (channel 0 is it);
* range  — log(high / low), the Parkinson range: the day's own volatility;
* body   — log(close / open), when the file has an open;
* volume — the change in log volume from the previous day;
* vol    — the log RiskMetrics volatility (λ = 0.94) of the next day's return, from the returns
  up to and including this day: the level a risk analyst starts from, so the network learns
  what the range and volume add to it rather than relearning an average from noisy returns;
* rv     — log √(realized variance): the day's own volatility measured from its intraday bars,
  for files of hourly (or finer) candles (forecast.data.loader flags days with too few bars);
* rrange — log √(realized range), the sum of the bars' squared log high/low ranges: by name only
  (`--features range,vol,rv,rrange`), not in `ohlcv`/`auto` (not measured to help).

A day without the value (a filled gap, zero or missing volume, a high below the low) gets the
training mean, i.e. 0 after standardising; standardised values are clipped to ±CLIP so one bad
print cannot dominate a window. When a recursive forecast rolls past the data, the days it
invents have unknown highs, lows and volumes: their channels hold the mean of the window's
last ROLL_DAYS days, and the return channel the forecast's own return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from forecast.config import MAX_COVARIATES, TABLE_COLUMNS, FeatureChoice
from forecast.errors import ConfigError, DataError
from forecast.registry import Registry

if TYPE_CHECKING:  # NumPy is imported where it computes: `forecast --help` reads the names without it
    import numpy as np

FEATURE_SETS = ("close", "ohlcv", "auto")  # --features by name; a comma-separated list of channels also works
VOL_LAMBDA = 0.94
CLIP = 8.0
ROLL_DAYS = 5


class Columns:
    """The columns of a (days, len(TABLE_COLUMNS)) price table by name, as positive values or NaN
    (the log of a non-positive price or volume is missing, never invented)."""

    def __init__(self, table: np.ndarray) -> None:
        import numpy as np
        table = np.asarray(table, dtype="float64")
        self.table = table[:, np.newaxis] if table.ndim == 1 else table
        self.days = len(self.table)

    def __call__(self, name: str) -> np.ndarray:
        import numpy as np
        j = TABLE_COLUMNS.index(name)
        values = self.table[:, j] if self.table.shape[1] > j else np.full(self.days, np.nan)
        return np.where(values > 0, values, np.nan)


class Channel:
    """One input channel: `raw` per-day values from the price table (NaN where a day lacks what it
    needs), standardised later on the training part; `roll` its standardised value on a day a
    recursive forecast invents (None: the mean of the window's last ROLL_DAYS days)."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()  # table columns besides the close
    words: ClassVar[str] = ""  # what it is, for people
    chosen: ClassVar[bool] = True  # picked by --features (covariate channels come with --covariate instead)

    def raw(self, columns: Columns) -> np.ndarray:
        raise NotImplementedError

    def roll(self, last: np.ndarray, change: np.ndarray, mean: float, std: float) -> np.ndarray | None:
        """`last`: each row's standardised value on the window's last day; `change`: the forecast's
        own log-return for the invented day."""
        return None


def _diff(values: np.ndarray) -> np.ndarray:
    import numpy as np
    out = np.full(len(values), np.nan)
    out[1:] = np.diff(values)
    return out


class Return(Channel):
    """log(close / previous close); left out of `ohlcv` when the target is `return` (channel 0 is it)."""

    name, words = "return", "daily log-return"

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        return _diff(np.log(columns("close")))

    def roll(self, last: np.ndarray, change: np.ndarray, mean: float, std: float) -> np.ndarray | None:
        import numpy as np
        return np.clip((change - mean) / std, -CLIP, CLIP)


class Range(Channel):
    """log(high / low), the Parkinson range: the day's own volatility."""

    name, needs, words = "range", ("high", "low"), "day's high–low range"

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        return np.log(columns("high") / columns("low"))


class Body(Channel):
    """log(close / open), when the file has an open."""

    name, needs, words = "body", ("open",), "open-to-close move"

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        return np.log(columns("close") / columns("open"))


class Volume(Channel):
    """The change in log volume from the previous day."""

    name, needs, words = "volume", ("volume",), "change in volume"

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        return _diff(np.log(columns("volume")))


class Vol(Channel):
    """The log RiskMetrics volatility (λ = 0.94) of the next day's return, from the returns up to and
    including this day: the level a risk analyst starts from."""

    name, words = "vol", "RiskMetrics volatility"

    def raw(self, columns: Columns) -> np.ndarray:
        return ewma_log_vol(columns("close"))

    def roll(self, last: np.ndarray, change: np.ndarray, mean: float, std: float) -> np.ndarray | None:
        import numpy as np
        sigma = np.exp(last * std + mean)  # the RiskMetrics recursion, one day on, with the forecast's return
        updated = np.sqrt(VOL_LAMBDA * sigma ** 2 + (1 - VOL_LAMBDA) * change ** 2)
        return np.clip((np.log(np.maximum(updated, 1e-12)) - mean) / std, -CLIP, CLIP)


def _registrable(channel: Channel) -> None:
    if channel.name in FEATURE_SETS or "," in channel.name:
        raise ValueError(f"input channel {channel.name!r} is not a usable name (a --features set, or a comma)")
    unknown = [c for c in channel.needs if c not in TABLE_COLUMNS]
    if unknown:
        raise ValueError(f"input channel {channel.name!r} needs columns the price table lacks: {unknown}")


CHANNELS: Registry[Channel] = Registry(
    "input channel", lambda name, known: f"no input channel {name!r}; there are {', '.join(known)}",
    check=_registrable)
register, unregister, get = CHANNELS.register, CHANNELS.unregister, CHANNELS.get


def is_choice(value: str) -> bool:
    """Whether `value` is something --features takes: a set's name, or registered channel names
    (comma-separated)."""
    listed = [part.strip() for part in value.split(",") if part.strip()]
    return value in FEATURE_SETS or (bool(listed) and all(part in CHANNELS and get(part).chosen for part in listed))


def choosable() -> list[str]:
    """The channels --features takes by name."""
    return [name for name, channel in CHANNELS.items() if channel.chosen]


class RealizedVol(Channel):
    """log √(the day's realized variance), from a file of intraday bars."""

    name, needs, words = "rv", ("rv",), "realized volatility of the intraday bars"

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        return 0.5 * np.log(columns("rv"))


class RealizedRange(Channel):
    """log √(the day's realized range), the sum of its intraday bars' squared log high/low ranges."""

    name, needs, words = "rrange", ("rr",), "realized range of the intraday bars"

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        return 0.5 * np.log(columns("rr"))


class CovariateLevel(Channel):
    """A bounded covariate (every value in 0–100, e.g. Fear & Greed) as its level (forecast.data.covariates)."""

    words, chosen = "a covariate's level", False

    def __init__(self, k: int) -> None:
        self.name, self.needs, self.k = f"cov{k}-level", (f"cov{k}",), k  # type: ignore[misc]

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        j = TABLE_COLUMNS.index(f"cov{self.k}")
        return columns.table[:, j] if columns.table.shape[1] > j else np.full(columns.days, np.nan)


class CovariateChange(CovariateLevel):
    """A covariate price (the S&P 500, DXY, gold) as its log change from the day before."""

    words = "a covariate's log change"

    def __init__(self, k: int) -> None:
        super().__init__(k)
        self.name = f"cov{k}-change"  # type: ignore[misc]

    def raw(self, columns: Columns) -> np.ndarray:
        import numpy as np
        return _diff(np.log(columns(f"cov{self.k}")))


for _channel in (Return(), Range(), Body(), Volume(), Vol(), RealizedVol(), RealizedRange(),
                 *(CovariateLevel(k) for k in range(MAX_COVARIATES)),
                 *(CovariateChange(k) for k in range(MAX_COVARIATES))):
    register(_channel)


@dataclass(frozen=True)
class Features:
    """The extra input channels of a model and their training-part statistics."""

    channels: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @property
    def kind(self) -> Literal["close", "ohlcv"]:
        return "ohlcv" if self.channels else "close"

    @property
    def width(self) -> int:
        """Input channels in all, the target's included."""
        return 1 + len(self.channels)

    def columns(self) -> tuple[str, ...]:
        """The file columns these channels need (besides the close)."""
        return tuple(dict.fromkeys(c for channel in self.channels for c in get(channel).needs))

    def extra(self, table: np.ndarray) -> np.ndarray:
        """Standardised extra channels per day: (days, channels) float64, finite."""
        import numpy as np
        raw = raw_channels(table, self.channels)
        with np.errstate(invalid="ignore"):
            scaled = (raw - np.asarray(self.mean)) / np.asarray(self.std)
        return np.clip(np.nan_to_num(scaled, nan=0.0, posinf=CLIP, neginf=-CLIP), -CLIP, CLIP)

    def check(self, present: dict[str, str], name: str) -> None:
        """Refuse a file that lacks a column these channels need.

        Raises:
            DataError: a needed column is missing, naming it and the fix.
        """
        missing = [c for c in self.columns() if c not in present]
        if missing:
            listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} or {missing[-1]}"
            raise DataError(f"this model reads {', '.join(self.columns())} besides the close (features ohlcv), "
                            f"but {name} has no {listed} column; use a file with those columns, "
                            "or train a model with --features close")

    def roll(self, window: np.ndarray, previous: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Extra channels for a forecast day in a recursive roll: (batch, channels).

        `window` is the (batch, window, width) input before shifting; each channel rolls as it says
        (`Channel.roll`: the return channel takes the forecast's own return), else takes the mean
        of its last ROLL_DAYS days."""
        import numpy as np
        out = window[:, -ROLL_DAYS:, 1:].mean(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # a price-level model may forecast ≤ 0
            change = np.nan_to_num(np.log(price / previous), nan=0.0, posinf=0.0, neginf=0.0)
        for j, name in enumerate(self.channels):
            rolled = get(name).roll(window[:, -1, 1 + j], change, self.mean[j], self.std[j])
            if rolled is not None:
                out[:, j] = rolled
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "channels": list(self.channels), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Features:
        """Rebuild from run.json (absent: a close-only model from before features existed).

        Raises:
            ConfigError: unknown channels or statistics that are not finite positive scales.
        """
        import numpy as np
        if raw is None:
            return cls()
        try:
            channels = tuple(str(c) for c in raw["channels"])
            mean = tuple(float(v) for v in raw["mean"])
            std = tuple(float(v) for v in raw["std"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"the features block is malformed ({exc})") from None
        if (any(c not in CHANNELS for c in channels) or len(set(channels)) != len(channels)
                or not len(channels) == len(mean) == len(std)
                or not all(np.isfinite(mean)) or not all(np.isfinite(s) and s > 0 for s in std)):
            raise ConfigError("the features block names unknown channels or has unusable statistics")
        return cls(channels, mean, std)


def raw_channels(table: np.ndarray, channels: tuple[str, ...]) -> np.ndarray:
    """Unscaled per-day channel values from a (days, len(TABLE_COLUMNS)) price table; NaN where a
    day lacks what the channel needs (day 0 has no return or volume change)."""
    import numpy as np
    columns = Columns(table)
    out = np.full((columns.days, len(channels)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, name in enumerate(channels):
            out[:, k] = get(name).raw(columns)
    return out


def ewma_log_vol(closes: np.ndarray) -> np.ndarray:
    """log σ of the next day's log-return after each day, by the RiskMetrics recursion over the
    returns up to that day (started at the first return's square; NaN on day 0).

    A plain loop over the days (a few milliseconds for decades of daily data): scipy's lfilter
    would do it in one call, but importing scipy.signal costs `predict` half a second."""
    import numpy as np
    out = np.full(len(closes), np.nan)
    returns = np.diff(np.log(closes))
    squares = np.where(np.isfinite(returns), returns, 0.0) ** 2
    if len(squares) == 0:
        return out
    variance = np.empty(len(squares))
    value = max(float(squares[0]), 1e-12)
    for i, square in enumerate(squares.tolist()):
        value = VOL_LAMBDA * value + (1 - VOL_LAMBDA) * square
        variance[i] = value
    out[1:] = 0.5 * np.log(np.maximum(variance, 1e-24))
    return out


def resolve(choice: FeatureChoice, present: dict[str, str], target_kind: str, name: str) -> tuple[str, ...]:
    """The extra channels for `--features` given the columns a file has (role → column name):
    close (none), ohlcv (return unless the target is, range, body when there is an open, volume,
    vol), auto (ohlcv when the file has high, low and volume, else close), or a comma-separated list
    of channel names.

    Raises:
        DataError: a file without the columns the channels need.
        ConfigError: an unknown choice or channel.
    """
    if choice not in FEATURE_SETS:
        return _listed(choice, present, name)
    full = all(c in present for c in ("high", "low", "volume"))
    if choice == "close" or (choice == "auto" and not full):
        return ()
    if not full:
        missing = " and ".join(c for c in ("high", "low", "volume") if c not in present)
        raise DataError(f"--features ohlcv needs high, low and volume columns, but {name} has no {missing}; "
                        "use --features close (or auto, which picks close for this file)")
    channels = [] if target_kind == "return" else ["return"]
    return (*channels, "range", *(["body"] if "open" in present else []), "volume", "vol",
            *(["rv"] if "rv" in present else []))


def _listed(choice: str, present: dict[str, str], name: str) -> tuple[str, ...]:
    listed = tuple(dict.fromkeys(part.strip() for part in str(choice).split(",") if part.strip()))
    if not is_choice(choice):
        raise ConfigError(f"--features must be {', '.join(FEATURE_SETS)} or channel names from "
                          f"{', '.join(choosable())} (comma-separated), got {choice!r}")
    missing = [c for channel in listed for c in get(channel).needs if c not in present]
    if missing:
        raise DataError(f"--features {choice} needs {', '.join(dict.fromkeys(missing))} columns, but {name} has "
                        "none; use other channels or --features close")
    return listed


def fit_features(table: np.ndarray, channels: tuple[str, ...], train_end: int) -> Features:
    """Fit each channel's mean and standard deviation on days [0, train_end) only."""
    import numpy as np
    if not channels:
        return Features()
    raw = raw_channels(table[:train_end], channels)
    mean, std = [], []
    for k in range(len(channels)):
        known = raw[:, k][np.isfinite(raw[:, k])]
        m = float(known.mean()) if len(known) else 0.0
        s = float(known.std()) if len(known) > 1 else 0.0
        mean.append(m)
        std.append(s if s > 1e-12 else 1.0)
    return Features(channels, tuple(mean), tuple(std))
