"""Every field of an account snapshot, where it is stored, and what type it has.

The seed's wide table has about sixty columns; most of them change rarely. A
snapshot is stored as a narrow *header* row (identity, provenance and the
figures that change from one snapshot to the next) plus references to five
*sections* (profile, health, KPIs, playbooks, references). Each distinct section
value is stored once per tenant and shared by every snapshot that has it; see
``docs/STORAGE.md``. This module is the single list that capture, storage,
import, compare and the read model all follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The value type of a field, as it is validated, stored and compared."""

    INT = "int"
    DECIMAL = "decimal"
    TEXT = "text"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    TEXT_LIST = "text_list"
    INT_LIST = "int_list"
    JSON = "json"


class Section(StrEnum):
    """Groups of fields that change together and are stored de-duplicated."""

    HEADER = "header"
    PROFILE = "profile"
    HEALTH = "health"
    KPIS = "kpis"
    PLAYBOOKS = "playbooks"
    REFERENCES = "references"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One snapshot field."""

    name: str
    kind: Kind
    section: Section
    #: For DECIMAL: digits in all and after the point; for TEXT: max length.
    precision: int = 0
    scale: int = 0
    max_length: int = 0
    #: Importable from a history file (identity and derived fields are not).
    importable: bool = True
    #: Compared field by field (numbers also get a delta).
    compared: bool = True


def _f(name: str, kind: Kind, section: Section, **kw: int | bool) -> FieldSpec:
    return FieldSpec(name, kind, section, **kw)  # type: ignore[arg-type]


H, P, HL, K, PB, R = (
    Section.HEADER,
    Section.PROFILE,
    Section.HEALTH,
    Section.KPIS,
    Section.PLAYBOOKS,
    Section.REFERENCES,
)

FIELDS: tuple[FieldSpec, ...] = (
    # 1.1 core
    _f("snapshot_id", Kind.INT, H, importable=False, compared=False),
    _f("account_id", Kind.INT, H, importable=False, compared=False),
    _f("customer_id", Kind.INT, H, importable=False, compared=False),
    _f("account_name", Kind.TEXT, P, max_length=255),
    _f("snapshot_timestamp", Kind.DATETIME, H, compared=False),
    _f("snapshot_type", Kind.TEXT, H, max_length=20, importable=False, compared=False),
    _f("snapshot_reason", Kind.TEXT, H, max_length=255, compared=False),
    # 1.2 financial
    _f("revenue", Kind.DECIMAL, H, precision=15, scale=2),
    _f("revenue_change_from_last", Kind.DECIMAL, H, precision=15, scale=2, importable=False),
    _f("revenue_change_percent", Kind.DECIMAL, H, precision=9, scale=2, importable=False),
    # 1.3 health
    _f("overall_health_score", Kind.DECIMAL, H, precision=5, scale=2),
    _f("product_usage_score", Kind.DECIMAL, HL, precision=5, scale=2),
    _f("support_score", Kind.DECIMAL, HL, precision=5, scale=2),
    _f("customer_sentiment_score", Kind.DECIMAL, HL, precision=5, scale=2),
    _f("business_outcomes_score", Kind.DECIMAL, HL, precision=5, scale=2),
    _f("relationship_strength_score", Kind.DECIMAL, HL, precision=5, scale=2),
    _f("health_score_change_from_last", Kind.DECIMAL, H, precision=5, scale=2, importable=False),
    _f("health_score_trend", Kind.TEXT, H, max_length=10, importable=False),
    # 1.4 status and metadata
    _f("account_status", Kind.TEXT, P, max_length=50),
    _f("industry", Kind.TEXT, P, max_length=100),
    _f("region", Kind.TEXT, P, max_length=100),
    _f("account_tier", Kind.TEXT, P, max_length=50),
    _f("external_account_id", Kind.TEXT, P, max_length=100),
    # 1.5 team
    _f("assigned_csm", Kind.TEXT, P, max_length=100),
    _f("csm_manager", Kind.TEXT, P, max_length=100),
    _f("account_owner", Kind.TEXT, P, max_length=100),
    # 1.6 products
    _f("products_used", Kind.TEXT_LIST, P),
    _f("product_count", Kind.INT, P),
    _f("primary_product", Kind.TEXT, P, max_length=100),
    # 1.7 playbooks
    _f("playbooks_running", Kind.TEXT_LIST, PB),
    _f("playbooks_running_count", Kind.INT, PB),
    _f("playbooks_completed_count", Kind.INT, PB),
    _f("playbooks_completed_last_30_days", Kind.INT, H),
    _f("last_playbook_executed", Kind.JSON, PB),
    _f("playbook_recommendations_active", Kind.TEXT_LIST, PB),
    # 1.8 KPIs
    _f("total_kpis", Kind.INT, K),
    _f("account_level_kpis", Kind.INT, K),
    _f("product_level_kpis", Kind.INT, K),
    _f("critical_kpis_count", Kind.INT, K),
    _f("at_risk_kpis_count", Kind.INT, K),
    _f("healthy_kpis_count", Kind.INT, K),
    _f("top_critical_kpis", Kind.JSON, K),
    # 1.9 engagement
    _f("lifecycle_stage", Kind.TEXT, P, max_length=50),
    _f("onboarding_status", Kind.TEXT, P, max_length=50),
    _f("last_qbr_date", Kind.DATE, P),
    _f("next_qbr_date", Kind.DATE, P),
    _f("engagement_score", Kind.DECIMAL, P, precision=5, scale=2),
    # 1.10 champions
    _f("primary_champion", Kind.TEXT, P, max_length=100),
    _f("champion_status", Kind.TEXT, P, max_length=50),
    _f("stakeholder_count", Kind.INT, P),
    # 1.13 references
    _f("recent_csm_note_ids", Kind.INT_LIST, R),
    _f("recent_playbook_report_ids", Kind.INT_LIST, R),
    # 1.11 calculated
    _f("days_since_last_snapshot", Kind.INT, H, importable=False),
    _f("snapshot_sequence_number", Kind.INT, H, importable=False, compared=False),
    _f("is_significant_change", Kind.BOOL, H, importable=False),
    # 1.12 metadata
    _f("created_by", Kind.INT, H, importable=False, compared=False),
    _f("trigger_event", Kind.TEXT, H, max_length=100, compared=False),
    _f("snapshot_version", Kind.INT, H, importable=False, compared=False),
    _f("created_at", Kind.DATETIME, H, importable=False, compared=False),
)

FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}

#: The sections stored de-duplicated, in a fixed order.
STORED_SECTIONS: tuple[Section, ...] = (
    Section.PROFILE,
    Section.HEALTH,
    Section.KPIS,
    Section.PLAYBOOKS,
    Section.REFERENCES,
)

SECTION_FIELDS: dict[Section, tuple[FieldSpec, ...]] = {
    section: tuple(f for f in FIELDS if f.section is section) for section in Section
}

#: Snapshot types a snapshot can have.
SNAPSHOT_TYPES: tuple[str, ...] = (
    "manual",
    "scheduled",
    "event_driven",
    "post_upload",
    "post_health_calc",
    "rag_auto",
    "imported",
)

#: Version of the snapshot schema written by this code.
SNAPSHOT_VERSION = 1
