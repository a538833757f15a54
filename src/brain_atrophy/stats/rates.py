"""The one slope and the one unit conversion every rate in the pipeline uses.

Rates are modelled on the 100·ln(volume) scale, where a slope b per year is close to %/yr for
small rates; the exact %/yr is 100·(exp(b/100) − 1). The same conversion turns a scanner step or
a difference of logs on that scale into a percentage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pct(log100_value):
    """A value on the 100·ln(volume) scale (a slope per year, a step) as a percentage:
    100·(exp(x/100) − 1). Scalars give floats; arrays and Series keep their shape."""
    if np.ndim(log100_value) == 0:
        return float(100.0 * np.expm1(float(log100_value) / 100.0))
    if isinstance(log100_value, pd.Series):
        return 100.0 * np.expm1(log100_value / 100.0)
    return 100.0 * np.expm1(np.asarray(log100_value, dtype=float) / 100.0)


def log100(volumes):
    """100·ln(volume), NaN where the volume is 0 (an absent region has no log)."""
    volumes = pd.Series(volumes, dtype=float) if not isinstance(volumes, pd.Series) else volumes
    return 100.0 * np.log(volumes.where(volumes > 0))


def log100_slopes(frame: pd.DataFrame, keys: list[str], column: str = "volume_mm3") -> pd.Series:
    """Per group of ``keys``: the least-squares slope of 100·ln(``column``) on years, NaN with
    fewer than two distinct times; indexed by ``keys``, vectorized over every group."""
    y = log100(frame[column])
    data = frame.assign(_y=y).dropna(subset=["_y"])
    grouped = data.groupby(keys, sort=False)
    dt = data["years"] - grouped["years"].transform("mean")
    dy = data["_y"] - grouped["_y"].transform("mean")
    sums = pd.DataFrame({"stt": dt * dt, "sty": dt * dy}).groupby([data[k] for k in keys], sort=False).sum()
    return (sums["sty"] / sums["stt"]).where(sums["stt"] > 0)
