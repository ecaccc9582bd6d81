"""The demo's playbooks, their triggers, and the reports their executions produce."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tidemark.demo.kpi_values import KPI_BY_NAME

VOC_SPRINT: Final = "voc-sprint"
EXPANSION_TIMING: Final = "expansion-timing"
RENEWAL_SAFEGUARD: Final = "renewal-safeguard"


@dataclass(frozen=True, slots=True)
class ExitCriterion:
    """A condition for closing a playbook: a metric against a target, or just finishing it."""

    text: str
    metric: str | None = None
    at_least: float | None = None


@dataclass(frozen=True, slots=True)
class Playbook:
    """A playbook: its steps, the metrics it moves, and when it is done."""

    playbook_id: str
    name: str
    steps: tuple[str, ...]
    #: Snapshot score fields or KPI names whose before and after the report shows.
    metrics: tuple[str, ...]
    exit_criteria: tuple[ExitCriterion, ...]
    #: Condition in the trigger language (``success.triggers``).
    trigger: Mapping[str, Any]
    duration_days: tuple[int, int]
    recommendations_good: tuple[str, ...]
    recommendations_poor: tuple[str, ...]


PLAYBOOKS: Final[dict[str, Playbook]] = {
    VOC_SPRINT: Playbook(
        VOC_SPRINT,
        "VoC Sprint",
        (
            "Pull detractor and passive list from the latest survey",
            "Interview five customer stakeholders",
            "Synthesize themes with Product and Support",
            "Agree an action plan with the executive sponsor",
            "Ship quick wins and close the loop with respondents",
            "Re-survey and compare",
        ),
        ("customer_sentiment_score", "Net Promoter Score", "Customer Satisfaction Score"),
        (
            ExitCriterion("NPS at or above 30", "Net Promoter Score", 30),
            ExitCriterion(
                "Customer satisfaction at or above 80%", "Customer Satisfaction Score", 80
            ),
            ExitCriterion("Action plan agreed with the executive sponsor"),
        ),
        {"all": [{"field": "customer_sentiment_score", "op": "<", "value": 60}]},
        (24, 40),
        (
            "Repeat the pulse survey next quarter to confirm the trend holds",
            "Invite two promoters to the customer advisory board",
        ),
        (
            "Escalate the top two detractor themes to the product roadmap review",
            "Run a second round of interviews with the business owners, not only admins",
        ),
    ),
    EXPANSION_TIMING: Playbook(
        EXPANSION_TIMING,
        "Expansion Timing",
        (
            "Confirm value realised against the success plan",
            "Map teams and use cases not yet on the platform",
            "Validate budget cycle with the champion",
            "Build the expansion proposal with the account owner",
            "Present the proposal at an executive meeting",
            "Close and plan onboarding of the new teams",
        ),
        ("overall_health_score", "Product Adoption Rate", "Feature Utilization"),
        (
            ExitCriterion("Overall health at or above 80", "overall_health_score", 80),
            ExitCriterion("Product adoption at or above 70%", "Product Adoption Rate", 70),
            ExitCriterion("Expansion proposal presented"),
        ),
        {
            "all": [
                {"field": "overall_health_score", "op": ">=", "value": 80},
                {"field": "account_status", "op": "==", "value": "active"},
            ]
        },
        (30, 55),
        (
            "Start onboarding the new teams within two weeks of signature",
            "Set adoption targets for the added seats in the success plan",
        ),
        (
            "Hold the proposal until adoption of the current seats recovers",
            "Revisit expansion at the next QBR with fresh usage data",
        ),
    ),
    RENEWAL_SAFEGUARD: Playbook(
        RENEWAL_SAFEGUARD,
        "Renewal Safeguard",
        (
            "Review health drivers and open escalations",
            "Re-engage the executive sponsor",
            "Agree a dated success plan with the champion",
            "Clear the support backlog",
            "Deliver a value review with measured ROI",
            "Confirm renewal terms",
        ),
        ("overall_health_score", "Executive Sponsor Engagement", "First Response Time"),
        (
            ExitCriterion("Overall health at or above 70", "overall_health_score", 70),
            ExitCriterion(
                "Executive sponsor engagement at or above 3.5/5",
                "Executive Sponsor Engagement",
                3.5,
            ),
            ExitCriterion("Renewal terms confirmed in writing"),
        ),
        {"all": [{"field": "overall_health_score", "op": "<", "value": 70}]},
        (35, 55),
        (
            "Keep the monthly executive check-in through the first quarter of the new term",
            "Move the account back to the standard cadence once health holds above 70",
        ),
        (
            "Keep the account on the weekly risk review",
            "Offer a paid health check by professional services",
            "Prepare a fallback renewal offer with a shorter term",
        ),
    ),
}

#: Fields whose change is measured in points rather than percent.
POINT_METRICS: Final = frozenset({"Net Promoter Score", "Revenue Growth"})

METRIC_LABELS: Final[dict[str, str]] = {
    "overall_health_score": "Overall health score",
    "customer_sentiment_score": "Customer sentiment score",
}


def improvement(metric: str, before: float, after: float) -> str:
    """How much better (+) or worse (-) a metric got, as a short string like "+12%"."""
    kpi = KPI_BY_NAME.get(metric)
    lower_is_better = kpi is not None and kpi.direction == "lower"
    gain = before - after if lower_is_better else after - before
    if metric in POINT_METRICS or before == 0:
        return f"{gain:+.0f} pts"
    return f"{gain / abs(before) * 100:+.0f}%"


@dataclass(frozen=True, slots=True)
class ReportPeople:
    """Who the report names in its RACI."""

    account: str
    csm: str
    manager: str
    owner: str
    champion: str


def build_report(
    playbook: Playbook,
    *,
    people: ReportPeople,
    started_at: datetime,
    as_of: datetime,
    before: Mapping[str, float],
    after: Mapping[str, float],
    steps_completed: int,
    completed: bool,
) -> dict[str, Any]:
    """The report data of an execution: summary, outcomes, RACI, exit criteria, advice."""
    outcomes = {
        METRIC_LABELS.get(metric, metric): {
            "before": before[metric],
            "after": after[metric],
            "improvement": improvement(metric, before[metric], after[metric]),
        }
        for metric in playbook.metrics
    }
    criteria = []
    for criterion in playbook.exit_criteria:
        if criterion.metric is None or criterion.at_least is None:
            met = completed
        else:
            met = after[criterion.metric] >= criterion.at_least
        criteria.append({"criterion": criterion.text, "met": met})
    headline = playbook.metrics[0]
    gained = after[headline] >= before[headline]
    label = METRIC_LABELS.get(headline, headline).lower()
    movement = (
        f"{label} moved from {before[headline]:g} to {after[headline]:g} "
        f"({improvement(headline, before[headline], after[headline])})"
    )
    days = (as_of - started_at).days
    if completed:
        summary = (
            f"{playbook.name} for {people.account} ran {days} days "
            f"({started_at:%b %d} to {as_of:%b %d, %Y}); {movement}. "
            f"{sum(1 for c in criteria if c['met'])} of {len(criteria)} exit criteria met."
        )
    else:
        summary = (
            f"{playbook.name} for {people.account} has been running since "
            f"{started_at:%b %d, %Y}; {steps_completed} of {len(playbook.steps)} steps are "
            f"complete. So far the {movement}."
        )
    return {
        "executive_summary": summary,
        "outcomes_achieved": outcomes,
        "raci": {
            "responsible": f"{people.csm} (CSM)",
            "accountable": f"{people.manager} (CS Manager)",
            "consulted": [f"{people.owner} (Account Owner)", "Product Management", "Support"],
            "informed": [f"{people.champion} ({people.account})", "Executive sponsor"],
        },
        "exit_criteria": criteria,
        "recommendations": list(
            playbook.recommendations_good if gained else playbook.recommendations_poor
        ),
        "steps": [
            {"step": i + 1, "title": title, "done": i < steps_completed}
            for i, title in enumerate(playbook.steps)
        ],
    }
