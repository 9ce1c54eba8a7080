"""Following Step Functions executions: history folding, ETA, errors in plain words.

See kilowatch/sfn/README.md. The pure parts (history, eta, explain, results, render) take
plain data; client.py is the only module that talks to AWS.
"""

from __future__ import annotations

from kilowatch.sfn.errors import SfnError
from kilowatch.sfn.eta import Eta, EtaModel, RunDurations, durations_of
from kilowatch.sfn.explain import Explanation, explain
from kilowatch.sfn.history import Progress, progress_of, top_level_states

__all__ = [
    "Eta",
    "EtaModel",
    "Explanation",
    "Progress",
    "RunDurations",
    "SfnError",
    "durations_of",
    "explain",
    "progress_of",
    "top_level_states",
]
