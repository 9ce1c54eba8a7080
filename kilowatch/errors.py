"""The errors a person must fix (bad settings, plant file or tariff): shown as one sentence."""

from __future__ import annotations

from kilowatch.billing.errors import BillingError
from kilowatch.config import ConfigError
from kilowatch.influx.reader import InfluxReadError
from kilowatch.influx.writer import InfluxAccessError, InfluxWriteError
from kilowatch.settings import SettingsError
from kilowatch.tariff import TariffError

USER_ERRORS: tuple[type[Exception], ...] = (
    BillingError,
    ConfigError,
    SettingsError,
    TariffError,
    InfluxWriteError,
    InfluxAccessError,
    InfluxReadError,
)
