"""CSM notes of the demo, written from the account's real figures at the time."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class NoteContext:
    """What the CSM knows about the account when writing."""

    account: str
    csm: str
    champion: str
    product: str
    other_products: tuple[str, ...]
    kpis: Mapping[str, str]
    health: Decimal | None
    previous_health: Decimal | None
    sentiment: Decimal | None
    status: str
    renewal_in_months: int | None
    onboarding: bool
    on: date
    thai: bool = False

    def kpi(self, name: str) -> str:
        """The KPI's value as last uploaded."""
        return self.kpis.get(name, "n/a")

    @property
    def health_text(self) -> str:
        """The overall health score as a CSM would quote it."""
        return "n/a" if self.health is None else f"{self.health:.0f}"

    @property
    def health_change(self) -> Decimal:
        """Points gained (positive) or lost since the previous month."""
        if self.health is None or self.previous_health is None:
            return Decimal(0)
        return self.health - self.previous_health


@dataclass(frozen=True, slots=True)
class NoteDraft:
    """A note ready to store."""

    note_type: str
    title: str
    content: str
    tags: list[str] = field(default_factory=list)
    is_important: bool = False
    related_playbook_id: str | None = None


Template = Callable[[NoteContext], NoteDraft]


def _positive_sync(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "meeting",
        "Monthly sync",
        f"Monthly sync with {c.champion}. Adoption of {c.product} is at "
        f"{c.kpi('Product Adoption Rate')} and logins average {c.kpi('Login Frequency')}. "
        f"The team rolled dashboards out to two more departments and wants a short training "
        f"session for the new users. Health score is {c.health_text}, up from last month. "
        f"Next step: schedule the training and share the usage report.",
        ["adoption", "training"],
    )


def _positive_call(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "call",
        "Check-in call",
        f"Quick call with {c.champion}. Support experience has improved: first response "
        f"time is down to {c.kpi('First Response Time')} and CSAT is {c.kpi('Support CSAT')}. "
        f"They are reporting {c.kpi('ROI Achieved')} ROI internally and asked for a case-study "
        f"style summary for their leadership team.",
        ["support", "roi"],
    )


def _expansion_interest(c: NoteContext) -> NoteDraft:
    extra = c.other_products[0] if c.other_products else "the Insights API"
    return NoteDraft(
        "meeting",
        "Expansion discussion",
        f"Met {c.champion} and their operations lead. Feature utilization is "
        f"{c.kpi('Feature Utilization')} and they are hitting seat limits. They asked about "
        f"expansion: pricing for more seats and a trial of {extra}. Looping in the account "
        f"owner for a proposal before the next QBR.",
        ["expansion"],
    )


def _nps_positive(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "email",
        "Survey results",
        f"Shared the quarterly survey results with {c.champion}: NPS "
        f"{c.kpi('Net Promoter Score')}, CSAT {c.kpi('Customer Satisfaction Score')}, "
        f"response rate {c.kpi('Survey Response Rate')}. Promoters mention reporting speed "
        f"and the new alerts. Asked whether two promoters would join a reference call.",
        ["nps", "survey"],
    )


def _concern_support(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "call",
        "Escalation follow-up",
        f"Call with {c.champion} about support. First response time is "
        f"{c.kpi('First Response Time')}, resolution takes {c.kpi('Ticket Resolution Time')} "
        f"and escalation rate is {c.kpi('Escalation Rate')}. They feel tickets bounce between "
        f"teams. Agreed a weekly triage with our support lead until the backlog is cleared.",
        ["support", "escalation", "risk"],
        is_important=True,
    )


def _concern_usage(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "meeting",
        "Usage review",
        f"Usage review with {c.champion}. Product adoption dropped to "
        f"{c.kpi('Product Adoption Rate')} and daily active users are "
        f"{c.kpi('Daily Active Users Ratio')}. Two teams went back to spreadsheets after a "
        f"reorganisation. Health score is {c.health_text}. Proposed a re-onboarding workshop "
        f"for {c.product}.",
        ["adoption", "risk"],
        is_important=True,
    )


def _nps_negative(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "email",
        "NPS detractor follow-up",
        f"NPS came back at {c.kpi('Net Promoter Score')} with sentiment "
        f"{c.kpi('Sentiment Score')}. Detractors cite slow support and missing integrations. "
        f"Emailed {c.champion} to set up interviews with three of the detractors; we need "
        f"their feedback before the roadmap review.",
        ["nps", "sentiment", "risk"],
        is_important=True,
    )


def _concern_sponsor(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "call",
        "Executive sponsor",
        f"Executive sponsor engagement is down ({c.kpi('Executive Sponsor Engagement')}) and "
        f"they skipped the last two meetings. {c.champion} says budgets are under review. "
        f"Asked the account owner to request an executive-to-executive call this month.",
        ["relationship", "risk"],
        is_important=True,
    )


def _neutral_sync(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "meeting",
        "Monthly sync",
        f"Monthly sync with {c.champion}. No open escalations; ticket volume is "
        f"{c.kpi('Support Ticket Volume')} this month. Goal attainment sits at "
        f"{c.kpi('Goal Attainment')}. They plan to connect one more data source next quarter.",
        ["sync"],
    )


def _neutral_email(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "email",
        "Usage report",
        f"Sent the monthly usage report to {c.champion}: adoption "
        f"{c.kpi('Product Adoption Rate')}, logins {c.kpi('Login Frequency')}, CSAT "
        f"{c.kpi('Customer Satisfaction Score')}. No questions back yet.",
        ["report"],
    )


def _neutral_call(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "call",
        "Roadmap questions",
        f"{c.champion} called with questions on the roadmap for {c.product}. Walked through "
        f"the next release; they are waiting on the audit-log export. Stakeholder coverage is "
        f"{c.kpi('Stakeholder Coverage')}; asked to be introduced to their new finance lead.",
        ["roadmap"],
    )


def _renewal_positive(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "call",
        "Renewal planning",
        f"Renewal is coming up. {c.champion} confirmed budget is approved and procurement "
        f"has the paperwork. Renewal rate KPI is {c.kpi('Renewal Rate')}; they want a "
        f"two-year term if we can hold pricing.",
        ["renewal"],
    )


def _renewal_at_risk(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "meeting",
        "Renewal risk",
        f"Renewal conversation with {c.champion}. Procurement is asking for a discount and "
        f"comparing two other vendors. Health score is {c.health_text}; NPS "
        f"{c.kpi('Net Promoter Score')}. Agreed to present a success plan with dated "
        f"commitments before they decide.",
        ["renewal", "risk"],
        is_important=True,
    )


def _onboarding(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "meeting",
        "Onboarding check-in",
        f"Onboarding check-in with {c.champion}. SSO is live and the first data import is "
        f"done; time to value is tracking at {c.kpi('Time to Value')}. Still to do: "
        f"admin training and the second integration. Adoption so far "
        f"{c.kpi('Product Adoption Rate')}.",
        ["onboarding"],
    )


def _thai_call(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "call",
        "โทรติดตามลูกค้า",
        f"โทรคุยกับคุณ{c.champion} เรื่องการใช้งาน {c.product} ลูกค้าพอใจกับระบบโดยรวม "
        f"คะแนน NPS ล่าสุดอยู่ที่ {c.kpi('Net Promoter Score')} "
        f"และขอให้ทีมเราจัดอบรมการใช้งานเพิ่มเติมให้ทีมใหม่ในเดือนหน้า",
        ["training", "nps"],
    )


def _thai_meeting(c: NoteContext) -> NoteDraft:
    return NoteDraft(
        "meeting",
        "ประชุมรายเดือน",
        f"ประชุมรายเดือนกับคุณ{c.champion} อัตราการใช้งาน {c.product} อยู่ที่ "
        f"{c.kpi('Product Adoption Rate')} ลูกค้าสอบถามเรื่องการเชื่อมต่อกับระบบ POS "
        f"และขอใบเสนอราคาสำหรับผู้ใช้งานเพิ่ม ทีมเราจะส่งรายละเอียดภายในสัปดาห์นี้",
        ["adoption", "expansion"],
    )


POSITIVE: tuple[Template, ...] = (
    _positive_sync,
    _positive_call,
    _expansion_interest,
    _nps_positive,
)
CONCERN: tuple[Template, ...] = (_concern_support, _concern_usage, _nps_negative, _concern_sponsor)
NEUTRAL: tuple[Template, ...] = (_neutral_sync, _neutral_email, _neutral_call, _nps_positive)


def monthly_note(rng: random.Random, c: NoteContext) -> NoteDraft:
    """One everyday note that fits how the account is doing."""
    if c.onboarding and rng.random() < 0.6:
        return _onboarding(c)
    if c.renewal_in_months is not None and 0 <= c.renewal_in_months <= 2 and rng.random() < 0.5:
        healthy = c.health is not None and c.health >= 70 and c.status == "active"
        return _renewal_positive(c) if healthy else _renewal_at_risk(c)
    if c.thai and rng.random() < 0.3:
        return rng.choice((_thai_call, _thai_meeting))(c)
    change = c.health_change
    troubled = c.status == "at_risk" or change <= -4
    if troubled:
        return rng.choice(CONCERN)(c)
    if change >= 4:
        return rng.choice(POSITIVE)(c)
    return rng.choice(NEUTRAL)(c)


def qbr_note(c: NoteContext) -> NoteDraft:
    """The note of a quarterly business review."""
    quarter = (c.on.month - 1) // 3 + 1
    if c.health is not None and c.health >= 70:
        outcome = (
            "They are on track against their goals and asked us to plan the next phase "
            "together. Committed to a roadmap preview and an adoption workshop."
        )
    else:
        outcome = (
            "Their team is not yet seeing the value they expected. Committed to a 60-day "
            "success plan: support triage, re-training, and a monthly executive check-in."
        )
    return NoteDraft(
        "qbr",
        f"Q{quarter} {c.on.year} QBR",
        f"QBR with {c.champion} and their executive sponsor. Reviewed health score "
        f"{c.health_text}, NPS {c.kpi('Net Promoter Score')}, ROI {c.kpi('ROI Achieved')} and "
        f"goal attainment {c.kpi('Goal Attainment')}. {outcome}",
        ["qbr", "nps"],
        is_important=c.health is not None and c.health < 60,
    )


def status_note(c: NoteContext, old: str, new: str) -> NoteDraft:
    """The note a CSM writes when an account changes status."""
    if new == "at_risk":
        text = (
            f"Moved {c.account} to at risk. Health score fell to {c.health_text}; "
            f"critical areas are support ({c.kpi('First Response Time')} first response) and "
            f"sentiment (NPS {c.kpi('Net Promoter Score')}). Raising it in the weekly risk review."
        )
        tags = ["risk", "status"]
    elif new == "churn":
        text = (
            f"{c.champion} confirmed {c.account} will not renew. Reasons given: budget cuts and "
            f"consolidation onto another platform. Data export requested for the end of term."
        )
        tags = ["churn", "renewal", "status"]
    else:
        text = (
            f"Moved {c.account} from {old.replace('_', ' ')} back to {new}. Health score "
            f"recovered to {c.health_text} and the open escalations are closed."
        )
        tags = ["status"]
    return NoteDraft("general", f"Status: {old} to {new}", text, tags, is_important=new != "active")


def revenue_note(c: NoteContext, old: Decimal, new: Decimal) -> NoteDraft:
    """The note that records a contract change."""
    if new > old:
        return NoteDraft(
            "email",
            "Expansion signed",
            f"{c.champion} signed the order form for additional seats and "
            f"{c.other_products[0] if c.other_products else c.product}. Annual contract value "
            f"goes from ${old:,.0f} to ${new:,.0f}. Kick-off for the new teams next week.",
            ["expansion", "revenue"],
            is_important=True,
        )
    return NoteDraft(
        "email",
        "Contract reduced",
        f"Procurement confirmed a reduced seat count at renewal. Annual contract value goes "
        f"from ${old:,.0f} to ${new:,.0f}. {c.champion} says usage outside their team never "
        f"took off.",
        ["renewal", "revenue", "risk"],
        is_important=True,
    )


def champion_note(c: NoteContext, departed: str, successor: str | None) -> NoteDraft:
    """The note when the account's champion leaves."""
    follow = (
        f"{successor} is taking over day-to-day ownership; booked an intro call."
        if successor
        else "No successor named yet; asked the account owner to find a new sponsor."
    )
    return NoteDraft(
        "email",
        "Champion leaving",
        f"{departed} let us know they are leaving {c.account} at the end of the month. {follow}",
        ["champion", "relationship", "risk"],
        is_important=True,
    )


def playbook_note(
    c: NoteContext, *, playbook_id: str, playbook_name: str, started: bool, summary: str = ""
) -> NoteDraft:
    """The note when a playbook starts or completes."""
    if started:
        return NoteDraft(
            "general",
            f"{playbook_name} started",
            f"Started the {playbook_name} playbook for {c.account}. Health score is "
            f"{c.health_text}. Kick-off with {c.champion} booked for this week.",
            ["playbook"],
            related_playbook_id=playbook_id,
        )
    return NoteDraft(
        "general",
        f"{playbook_name} completed",
        f"Completed the {playbook_name} playbook for {c.account}. {summary}",
        ["playbook"],
        related_playbook_id=playbook_id,
    )
