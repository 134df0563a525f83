"""Config-driven training: ``Trainer(load_config(path)).fit()`` is what ``clnet train`` runs."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

from .callbacks import BestCheckpoints, Callback, EarlyStopping
from .config import ConfigError, load_config
from .models import ARCHITECTURES, DataInfo, build_model, summary
from .trainer import Trainer, TrainingDiverged, latest_checkpoint
from .predict import predict_file

if TYPE_CHECKING:
    from ..types import PathLike

__all__ = ["ConfigError", "load_config", "Trainer", "TrainingDiverged", "latest_checkpoint",
           "ARCHITECTURES", "DataInfo", "build_model", "summary", "predict_file", "train",
           "Callback", "EarlyStopping", "BestCheckpoints"]


def train(config_path: PathLike, overrides: Sequence[str] = (), resume: Optional[PathLike] = None,
          quiet: bool = False) -> Dict[str, Any]:
    """Three lines of Python for what ``clnet train config.yaml`` does; returns the result dict."""
    return Trainer(load_config(config_path, overrides), resume=resume, quiet=quiet).fit()
