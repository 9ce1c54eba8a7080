"""A timezone's UTC offsets over a span, found by probing zoneinfo (which lists no transitions)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

# Offsets are probed this often; two changes closer than this that cancel out would be missed,
# which no zone has done (real changes are months apart).
PROBE_STEP_S = 6 * 3600


def offset_at(zone: ZoneInfo, ts: int) -> int:
    """The zone's UTC offset (seconds) at Unix time `ts`."""
    offset = datetime.fromtimestamp(ts, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offsets(zone: ZoneInfo, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(from_s, offset_s): the offset in force from each instant on, over [start, end).

    from_s[0] == start; each later entry is the first second of a new offset.
    """
    current = offset_at(zone, start)
    froms, offs = [start], [current]
    t = start
    while t < end - 1:
        probe = min(t + PROBE_STEP_S, end - 1)
        found = offset_at(zone, probe)
        if found != current:
            low, high = t, probe  # offset at low is current, at high the new one
            while high - low > 1:
                middle = (low + high) // 2
                if offset_at(zone, middle) == current:
                    low = middle
                else:
                    high = middle
            froms.append(high)
            offs.append(found)
            current = found
        t = probe
    return np.array(froms, dtype=np.int64), np.array(offs, dtype=np.int64)
