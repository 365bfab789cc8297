"""The run context: what every use case gets besides its request.

A use case takes `(request, context)`: the request says what to do (a configuration, folds,
seeds…), the context how to do it here — how to read the file, where progress and data notes
go, the TensorBoard root, how many worker processes, whether an existing folder may be
replaced, and where the output goes. One validated object instead of a dozen loose parameters
in every signature (after skforecast's `TimeSeriesFold`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.config import DEFAULT_MODELS_DIR, DistributeChoice

if TYPE_CHECKING:
    from forecast.data.covariates import Covariate, Request
    from forecast.data.loader import LoadOptions, PriceSeries
    from forecast.status import EpochCallback, ProgressFactory


REPORTS_DIR = "reports"


def default_out(command: str, csv_path: Path, model_kind: str = "", assets: int = 1) -> Path:
    """Where a command writes when --out is not given, all in one place: `models/<model>-<csv stem>`
    for train (`…-and-<n>-more` for several files), `reports/<command>-<csv stem>` for compare,
    backtest and tune."""
    more = f"-and-{assets - 1}-more" if assets > 1 else ""
    stem = csv_path.stem or csv_path.resolve().name
    if command == "train":
        return Path(DEFAULT_MODELS_DIR) / f"{model_kind}-{stem}{more}"
    return Path(REPORTS_DIR) / f"{command}-{stem}{more}"


def default_from_out(folders: list[Path]) -> Path:
    """`reports/compare-<a>-vs-<b>…`: the default report folder of `compare --from`, named after its folders
    (so unrelated comparisons do not collide)."""
    names = [folder.resolve().name or "model" for folder in folders] or ["models"]
    joined = "-vs-".join(names)
    if len(joined) > 80:
        joined = f"{names[0]}-and-{len(names) - 1}-more"
    return Path(REPORTS_DIR) / f"compare-{joined}"


@dataclass(frozen=True)
class RunContext:
    """How one command runs.

    Attributes:
        out: the output folder (or file) the use case writes.
        force: whether a folder forecast wrote there may be replaced.
        load_options: the CSV reader's overrides.
        on_loaded: called with the cleaned series as soon as the file is read (the data notes).
        progress: a training's name → its epoch callback.
        tensorboard: the TensorBoard root; each training logs into a sub-folder named after it.
        jobs: trainings at once, each in its own worker process.
        distribute: the tf.distribute strategy of an in-process training.
        covariates: files whose values are attached to every series read (forecast.data.covariates).
    """

    out: Path
    force: bool = False
    load_options: LoadOptions | None = None
    on_loaded: Callable[[PriceSeries], None] | None = None
    progress: ProgressFactory | None = None
    tensorboard: Path | None = None
    jobs: int = 1
    distribute: DistributeChoice = "auto"
    covariates: Request | None = None

    def load(self, csv_path: Path) -> PriceSeries:
        """Read and clean the price file (through its snapshot, forecast.data.snapshot: a file read
        before is not cleaned again, and one read now is kept for predict), attach the covariates,
        then tell `on_loaded`."""
        from forecast.data.snapshot import as_price_series, read_prices

        return self.loaded(as_price_series(read_prices(csv_path, self.load_options)))

    def loaded(self, series: PriceSeries) -> PriceSeries:
        """A series just read: with the covariates attached (forecast.data.covariates), told to `on_loaded`."""
        if self.covariates is not None and self.covariates.specs:
            from forecast.data.covariates import attach

            series = attach(series, self.covariate_files, self.covariates)
        if self.on_loaded is not None:
            self.on_loaded(series)
        return series

    @functools.cached_property
    def covariate_files(self) -> list[Covariate]:
        """The covariate files, read once per context (every series of a run is aligned to the same ones)."""
        return self.covariates.load(self.load_options) if self.covariates is not None else []

    def board(self, name: str) -> Path | None:
        """The TensorBoard folder of the training called `name` (None without --tensorboard)."""
        return self.tensorboard / name if self.tensorboard is not None else None

    def epochs(self, name: str) -> EpochCallback | None:
        """The epoch callback of the training called `name`."""
        return self.progress(name) if self.progress is not None else None
