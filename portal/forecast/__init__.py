"""Immunization forecast by the CDC's CDSi logic specification and supporting data.

No web or database code: doses in (date, CVX, MVX), evaluation and forecast per vaccine group out.
"""

from __future__ import annotations

from portal.forecast.engine import ROUTINE_GROUPS, forecast
from portal.forecast.model import (
    DoseEvaluation,
    DoseGiven,
    DoseStatus,
    Forecast,
    ForecastStatus,
    ImmunizationForecast,
    Patient,
    Reason,
    VaccineGroupForecast,
)

__all__ = [
    "ROUTINE_GROUPS",
    "DoseEvaluation",
    "DoseGiven",
    "DoseStatus",
    "Forecast",
    "ForecastStatus",
    "ImmunizationForecast",
    "Patient",
    "Reason",
    "VaccineGroupForecast",
    "forecast",
]
