"""The standard KPIs of the platform with their default reference ranges."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class StandardKPI:
    """A KPI every tenant starts with, and the range that grades it."""

    name: str
    category: str
    direction: str  # "higher" or "lower" is better
    critical: Decimal
    risk: Decimal
    unit: str
    impact_level: str


def _k(
    name: str, category: str, direction: str, critical: str, risk: str, unit: str, impact: str
) -> StandardKPI:
    return StandardKPI(name, category, direction, Decimal(critical), Decimal(risk), unit, impact)


STANDARD_KPIS: tuple[StandardKPI, ...] = (
    _k("Product Adoption Rate", "Product Usage", "higher", "40", "60", "%", "High"),
    _k("Daily Active Users Ratio", "Product Usage", "higher", "10", "20", "%", "High"),
    _k("Feature Utilization", "Product Usage", "higher", "30", "50", "%", "Medium"),
    _k("Login Frequency", "Product Usage", "higher", "2", "4", "per week", "Medium"),
    _k("Time to Value", "Product Usage", "lower", "60", "30", "days", "Low"),
    _k("First Response Time", "Support", "lower", "24", "8", "hours", "High"),
    _k("Ticket Resolution Time", "Support", "lower", "72", "24", "hours", "Medium"),
    _k("Support Ticket Volume", "Support", "lower", "50", "20", "per month", "Low"),
    _k("Escalation Rate", "Support", "lower", "15", "5", "%", "High"),
    _k("Support CSAT", "Support", "higher", "70", "85", "%", "Medium"),
    _k("Net Promoter Score", "Customer Sentiment", "higher", "0", "30", "score", "High"),
    _k("Customer Satisfaction Score", "Customer Sentiment", "higher", "70", "80", "%", "High"),
    _k("Survey Response Rate", "Customer Sentiment", "higher", "10", "25", "%", "Low"),
    _k("Sentiment Score", "Customer Sentiment", "higher", "3", "4", "/5", "Medium"),
    _k("Complaint Rate", "Customer Sentiment", "lower", "10", "5", "%", "Medium"),
    _k("ROI Achieved", "Business Outcomes", "higher", "50", "100", "%", "High"),
    _k("Revenue Growth", "Business Outcomes", "higher", "0", "5", "%", "High"),
    _k("Goal Attainment", "Business Outcomes", "higher", "50", "75", "%", "Medium"),
    _k("Cost Savings", "Business Outcomes", "higher", "5", "10", "%", "Low"),
    _k("Renewal Rate", "Business Outcomes", "higher", "80", "90", "%", "High"),
    _k("Executive Sponsor Engagement", "Relationship Strength", "higher", "2", "3.5", "/5", "High"),
    _k("QBR Attendance", "Relationship Strength", "higher", "50", "75", "%", "Medium"),
    _k("Champion Strength", "Relationship Strength", "higher", "2", "3.5", "/5", "High"),
    _k("Stakeholder Coverage", "Relationship Strength", "higher", "2", "4", "contacts", "Medium"),
    _k("Meeting Frequency", "Relationship Strength", "higher", "1", "2", "per month", "Low"),
)
