"""KPI values of the demo: from an account's latent condition to the text of a KPI file.

Each account has a latent condition per category on a 0-1 scale. A KPI's value
is placed on its own reference range so that a condition of 1/3 sits on the
critical threshold and 2/3 on the risk threshold: a better condition gives a
healthier value, whichever way the KPI points. Values are rounded as a source
file would have them ("85%", "4.2/5", "12 hours") and the parsed number is kept
beside the text.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tidemark.success.catalog import STANDARD_KPIS, StandardKPI


@dataclass(frozen=True, slots=True)
class KPIFormat:
    """How a KPI is written in a file: decimals, plausible bounds and the text around it."""

    decimals: int
    low: float
    high: float
    template: str
    frequency: str


FORMATS: Final[dict[str, KPIFormat]] = {
    "Product Adoption Rate": KPIFormat(0, 0, 100, "{}%", "Monthly"),
    "Daily Active Users Ratio": KPIFormat(0, 1, 100, "{}%", "Weekly"),
    "Feature Utilization": KPIFormat(0, 0, 100, "{}%", "Monthly"),
    "Login Frequency": KPIFormat(1, 0.2, 14, "{} per week", "Weekly"),
    "Time to Value": KPIFormat(0, 3, 180, "{} days", "Quarterly"),
    "First Response Time": KPIFormat(1, 0.5, 96, "{} hours", "Weekly"),
    "Ticket Resolution Time": KPIFormat(0, 2, 240, "{} hours", "Weekly"),
    "Support Ticket Volume": KPIFormat(0, 1, 200, "{} tickets", "Monthly"),
    "Escalation Rate": KPIFormat(1, 0, 60, "{}%", "Monthly"),
    "Support CSAT": KPIFormat(0, 20, 100, "{}%", "Monthly"),
    "Net Promoter Score": KPIFormat(0, -100, 100, "{}", "Quarterly"),
    "Customer Satisfaction Score": KPIFormat(0, 20, 100, "{}%", "Monthly"),
    "Survey Response Rate": KPIFormat(0, 1, 100, "{}%", "Quarterly"),
    "Sentiment Score": KPIFormat(1, 1, 5, "{}/5", "Monthly"),
    "Complaint Rate": KPIFormat(1, 0, 50, "{}%", "Monthly"),
    "ROI Achieved": KPIFormat(0, -50, 500, "{}%", "Quarterly"),
    "Revenue Growth": KPIFormat(1, -40, 80, "{}%", "Quarterly"),
    "Goal Attainment": KPIFormat(0, 0, 120, "{}%", "Quarterly"),
    "Cost Savings": KPIFormat(1, 0, 60, "{}%", "Quarterly"),
    "Renewal Rate": KPIFormat(0, 40, 100, "{}%", "Annually"),
    "Executive Sponsor Engagement": KPIFormat(1, 1, 5, "{}/5", "Quarterly"),
    "QBR Attendance": KPIFormat(0, 0, 100, "{}%", "Quarterly"),
    "Champion Strength": KPIFormat(1, 1, 5, "{}/5", "Quarterly"),
    "Stakeholder Coverage": KPIFormat(0, 0, 15, "{} contacts", "Quarterly"),
    "Meeting Frequency": KPIFormat(1, 0, 8, "{} per month", "Monthly"),
}

#: KPI weight by impact level: high-impact KPIs count three times the low ones.
WEIGHTS: Final[dict[str, Decimal]] = {
    "High": Decimal("1.5"),
    "Medium": Decimal("1.0"),
    "Low": Decimal("0.5"),
}

KPI_BY_NAME: Final[dict[str, StandardKPI]] = {kpi.name: kpi for kpi in STANDARD_KPIS}

CSV_COLUMNS: Final[tuple[str, ...]] = (
    "Account Name",
    "Account ID",
    "Category",
    "KPI Parameter",
    "Data",
    "Impact Level",
    "Measurement Frequency",
    "Product",
)


def kpi_reading(kpi: StandardKPI, condition: float) -> tuple[Decimal, str]:
    """The parsed value and the file text of ``kpi`` for a latent ``condition`` (0-1)."""
    fmt = FORMATS[kpi.name]
    critical, risk = float(kpi.critical), float(kpi.risk)
    # Condition 1/3 lands on the critical threshold, 2/3 on the risk threshold.
    raw = critical + (condition - 1 / 3) * 3 * (risk - critical)
    raw = min(max(raw, fmt.low), fmt.high)
    value = Decimal(f"{raw:.{fmt.decimals}f}") + 0  # "+ 0" turns -0 into 0
    return value, fmt.template.format(value)


@dataclass(frozen=True, slots=True)
class UploadRow:
    """One KPI line of an upload file."""

    category: str
    kpi_parameter: str
    data: str
    value: Decimal
    impact_level: str
    measurement_frequency: str
    product: str | None


def upload_file(
    account_name: str, external_id: str, rows: list[UploadRow]
) -> tuple[bytes, list[dict[str, Any]]]:
    """The CSV bytes of an account's monthly KPI file and its parsed rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    parsed: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=2):
        writer.writerow(
            (
                account_name,
                external_id,
                row.category,
                row.kpi_parameter,
                row.data,
                row.impact_level,
                row.measurement_frequency,
                row.product or "",
            )
        )
        parsed.append(
            {
                "row": number,
                "account_name": account_name,
                "external_account_id": external_id,
                "category": row.category,
                "kpi_parameter": row.kpi_parameter,
                "data": row.data,
                "value": str(row.value),
                "impact_level": row.impact_level,
                "measurement_frequency": row.measurement_frequency,
                "product": row.product,
            }
        )
    return buffer.getvalue().encode("utf-8"), parsed
