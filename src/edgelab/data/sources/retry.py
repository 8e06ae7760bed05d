"""Retrying transient download failures: `RetryPolicy`, exponential back-off with
jitter, and the server's ``Retry-After`` header (seconds or an HTTP date)."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from typing import Any

import pandas as pd

from edgelab.data.sources.downloads import utc_now


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for transient failures: attempt k (0-based) waits
    ``min(max_delay, base_delay * 2**k) * (1 + jitter * U[0, 1))`` seconds, or exactly the
    server's Retry-After when it sends one (refused above `max_retry_after`)."""

    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5
    max_retry_after: float = 900.0
    seed: int | None = None


def retry_after_seconds(headers: Any, now: pd.Timestamp | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not headers:
        return None
    value = None
    for key in headers:
        if str(key).lower() == "retry-after":
            value = str(headers[key]).strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now if now is not None else utc_now()
    return max(0.0, (pd.Timestamp(when) - now).total_seconds())


def backoff_seconds(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """The wait before retrying after failed attempt `attempt` (0-based), jittered by `rng`."""
    base = min(policy.max_delay, policy.base_delay * 2**attempt)
    return base * (1.0 + policy.jitter * rng.random())
