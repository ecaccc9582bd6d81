"""The words questions use: field synonyms, field values, cue words, and common words.

Everything here is lower-case and written with single spaces; hyphens in a
question count as spaces ("at-risk" is "at risk"). Field names are those of
:data:`tidemark.snapshots.fields.FIELDS` (a test checks every one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Words and phrases for snapshot fields. The longest phrase in a question wins,
#: so "customer success manager" is assigned_csm although "manager" is csm_manager.
FIELD_SYNONYMS: Final[dict[str, str]] = {
    # health
    "overall health score": "overall_health_score",
    "overall health": "overall_health_score",
    "overall score": "overall_health_score",
    "account health": "overall_health_score",
    "health score": "overall_health_score",
    "health scores": "overall_health_score",
    "healthscore": "overall_health_score",
    "health": "overall_health_score",
    "score": "overall_health_score",
    "scores": "overall_health_score",
    # financial
    "revenue": "revenue",
    "revenues": "revenue",
    "arr": "revenue",
    "annual revenue": "revenue",
    "annual recurring revenue": "revenue",
    "recurring revenue": "revenue",
    "contract value": "revenue",
    "annual contract value": "revenue",
    "acv": "revenue",
    # status and metadata
    "status": "account_status",
    "account status": "account_status",
    "tier": "account_tier",
    "account tier": "account_tier",
    "segment": "account_tier",
    "industry": "industry",
    "sector": "industry",
    "vertical": "industry",
    "region": "region",
    "geography": "region",
    "territory": "region",
    "external id": "external_account_id",
    "external account id": "external_account_id",
    # team
    "csm": "assigned_csm",
    "csms": "assigned_csm",
    "assigned csm": "assigned_csm",
    "customer success manager": "assigned_csm",
    "success manager": "assigned_csm",
    "csm manager": "csm_manager",
    "manager": "csm_manager",
    "owner": "account_owner",
    "account owner": "account_owner",
    "account executive": "account_owner",
    # products
    "products": "products_used",
    "product": "products_used",
    "products used": "products_used",
    "product count": "product_count",
    "number of products": "product_count",
    "primary product": "primary_product",
    "main product": "primary_product",
    # playbooks
    "playbooks": "playbooks_running",
    "playbook": "playbooks_running",
    "playbooks running": "playbooks_running",
    "running playbooks": "playbooks_running",
    "active playbooks": "playbooks_running",
    "running playbook count": "playbooks_running_count",
    "number of running playbooks": "playbooks_running_count",
    "completed playbooks": "playbooks_completed_count",
    "playbooks completed": "playbooks_completed_count",
    "playbook recommendations": "playbook_recommendations_active",
    "recommended playbooks": "playbook_recommendations_active",
    "last playbook": "last_playbook_executed",
    "last playbook executed": "last_playbook_executed",
    # KPIs
    "critical kpis": "critical_kpis_count",
    "critical kpi": "critical_kpis_count",
    "critical kpi count": "critical_kpis_count",
    "critical kpis count": "critical_kpis_count",
    "number of critical kpis": "critical_kpis_count",
    "at risk kpis": "at_risk_kpis_count",
    "at risk kpi": "at_risk_kpis_count",
    "risk kpis": "at_risk_kpis_count",
    "healthy kpis": "healthy_kpis_count",
    "healthy kpi": "healthy_kpis_count",
    "kpis": "total_kpis",
    "kpi count": "total_kpis",
    "total kpis": "total_kpis",
    "number of kpis": "total_kpis",
    "account level kpis": "account_level_kpis",
    "product level kpis": "product_level_kpis",
    "top critical kpis": "top_critical_kpis",
    # category scores
    "product usage score": "product_usage_score",
    "product usage": "product_usage_score",
    "usage score": "product_usage_score",
    "usage": "product_usage_score",
    "support score": "support_score",
    "support": "support_score",
    "customer sentiment score": "customer_sentiment_score",
    "customer sentiment": "customer_sentiment_score",
    "sentiment score": "customer_sentiment_score",
    "sentiment": "customer_sentiment_score",
    "business outcomes score": "business_outcomes_score",
    "business outcome score": "business_outcomes_score",
    "business outcomes": "business_outcomes_score",
    "outcomes score": "business_outcomes_score",
    "outcomes": "business_outcomes_score",
    "relationship strength score": "relationship_strength_score",
    "relationship strength": "relationship_strength_score",
    "relationship score": "relationship_strength_score",
    "relationship": "relationship_strength_score",
    # engagement
    "engagement score": "engagement_score",
    "engagement": "engagement_score",
    "lifecycle stage": "lifecycle_stage",
    "lifecycle": "lifecycle_stage",
    "stage": "lifecycle_stage",
    "onboarding status": "onboarding_status",
    "onboarding": "onboarding_status",
    "last qbr": "last_qbr_date",
    "last qbr date": "last_qbr_date",
    "next qbr": "next_qbr_date",
    "next qbr date": "next_qbr_date",
    # champions
    "champion": "primary_champion",
    "primary champion": "primary_champion",
    "champion status": "champion_status",
    "stakeholders": "stakeholder_count",
    "stakeholder count": "stakeholder_count",
    "number of stakeholders": "stakeholder_count",
}

#: Thai field words, found inside Thai text (which does not space its words).
THAI_FIELD_SYNONYMS: Final[dict[str, str]] = {
    "คะแนนสุขภาพ": "overall_health_score",
    "สุขภาพ": "overall_health_score",
    "รายได้": "revenue",
    "สถานะ": "account_status",
}

#: Single words that stand for a field only on their own: "banana score" is not
#: the health score, it is a field the product does not know.
GENERIC_HEADS: Final = frozenset({"score", "scores", "status"})

#: Fields that name the people and things assigned to an account now.
ASSIGNMENT_FIELDS: Final = frozenset(
    {
        "assigned_csm",
        "csm_manager",
        "account_owner",
        "products_used",
        "primary_product",
        "playbooks_running",
        "playbook_recommendations_active",
        "primary_champion",
    }
)

#: Account statuses (the stored values are active, inactive, at_risk, churn).
STATUS_VALUES: Final[dict[str, str]] = {
    "at risk": "at_risk",
    "at_risk": "at_risk",
    "at risk of churn": "at_risk",
    "at risk of churning": "at_risk",
    "risk of churn": "at_risk",
    "churned": "churn",
    "churn": "churn",
    "churning": "churn",
    "active": "active",
    "inactive": "inactive",
}

#: Account tiers, as they are commonly stored. Only read as a tier next to
#: "accounts" or "tier" ("enterprise accounts", "in the growth tier").
TIER_VALUES: Final[dict[str, str]] = {
    "enterprise": "Enterprise",
    "strategic": "Strategic",
    "growth": "Growth",
    "standard": "Standard",
    "mid market": "Mid-Market",
    "smb": "SMB",
    "commercial": "Commercial",
}

#: Regions, as they are commonly stored.
REGION_VALUES: Final[dict[str, str]] = {
    "north america": "North America",
    "emea": "EMEA",
    "apac": "APAC",
    "latam": "LATAM",
    "europe": "Europe",
}

#: Industries, as they are commonly stored. Only read as an industry next to
#: "accounts" or "industry", or after "in" ("retail accounts", "in retail").
INDUSTRY_VALUES: Final[dict[str, str]] = {
    "technology": "Technology",
    "software": "Software",
    "retail": "Retail",
    "manufacturing": "Manufacturing",
    "healthcare": "Healthcare",
    "logistics": "Logistics",
    "energy": "Energy",
    "financial services": "Financial Services",
    "insurance": "Insurance",
    "education": "Education",
    "media": "Media",
    "telecommunications": "Telecommunications",
    "biotech": "Biotech",
    "hospitality": "Hospitality",
}

#: Comparison words, by operator. "N or more" and "N or less" follow the number.
COMPARISONS: Final[dict[str, str]] = {
    "below": "<",
    "under": "<",
    "less than": "<",
    "lower than": "<",
    "fewer than": "<",
    "beneath": "<",
    "<": "<",
    "above": ">",
    "over": ">",
    "more than": ">",
    "greater than": ">",
    "higher than": ">",
    "exceeding": ">",
    "exceeds": ">",
    ">": ">",
    "at least": ">=",
    "no less than": ">=",
    "no fewer than": ">=",
    ">=": ">=",
    "at most": "<=",
    "no more than": "<=",
    "up to": "<=",
    "<=": "<=",
    "equal to": "=",
    "equals": "=",
    "exactly": "=",
    "=": "=",
    "not equal to": "!=",
    "!=": "!=",
}
#: Words after a number that turn it into a bound: "80 or more".
TRAILING_BOUNDS: Final[dict[str, str]] = {
    "or more": ">=",
    "or higher": ">=",
    "or above": ">=",
    "or greater": ">=",
    "or less": "<=",
    "or lower": "<=",
    "or below": "<=",
    "or fewer": "<=",
}
#: Multipliers written after a number ("1.2 million", "500k").
MULTIPLIERS: Final[dict[str, int]] = {
    "k": 1_000,
    "thousand": 1_000,
    "m": 1_000_000,
    "mm": 1_000_000,
    "million": 1_000_000,
    "b": 1_000_000_000,
    "bn": 1_000_000_000,
    "billion": 1_000_000_000,
}
NUMBER_WORDS: Final[dict[str, int]] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "fifty": 50,
}  # fmt: skip
NEGATIONS: Final = frozenset({"not", "isn't", "aren't", "wasn't", "weren't", "non", "never"})

# ----------------------------------------------------------------------------- cue words

#: Words that ask for notes or playbook reports.
NOTE_WORDS: Final = frozenset(
    {
        "note", "notes", "discuss", "discussed", "discussion", "discussions", "talk", "talked",
        "meeting", "meetings", "call", "calls", "say", "said", "wrote", "written", "mention",
        "mentioned", "mentioning", "mentions", "conversation", "conversations", "บันทึก",
    }
)  # fmt: skip
#: Words that ask for playbook reports in particular.
REPORT_WORDS: Final = frozenset({"report", "reports"})
#: Words that open the topic of a notes search: "notes about renewal".
TOPIC_MARKERS: Final = frozenset(
    {
        "about", "mentioning", "mention", "mentions", "regarding", "concerning", "containing",
        "discussing", "re", "on", "เกี่ยวกับ",
    }
)  # fmt: skip
HISTORY_WORDS: Final = frozenset(
    {
        "history", "historical", "histories", "trend", "trends", "trajectory", "timeline",
        "evolution", "evolved", "progression", "chart", "plot", "graph", "track",
    }
)  # fmt: skip
CHANGE_WORDS: Final = frozenset(
    {
        "change", "changed", "changes", "changing", "difference", "delta", "moved", "move",
        "movement", "shift", "shifted", "compare", "compared", "versus", "vs",
    }
)  # fmt: skip
IMPROVE_WORDS: Final = frozenset(
    {
        "improve", "improved", "improves", "improving", "improvement", "improvements",
        "increase", "increased", "increases", "increasing", "grow", "grew", "grown", "growing",
        "growth", "rise", "rose", "risen", "rising", "gain", "gained", "gains", "better",
        "climbed", "recovered", "recover",
    }
)  # fmt: skip
DECLINE_WORDS: Final = frozenset(
    {
        "decline", "declined", "declines", "declining", "decrease", "decreased", "decreases",
        "decreasing", "drop", "dropped", "drops", "dropping", "fall", "fell", "fallen",
        "falling", "worsen", "worsened", "worse", "deteriorate", "deteriorated", "lose", "lost",
        "shrink", "shrank", "slip", "slipped",
    }
)  # fmt: skip
#: Words that rank: "top 5", "the most", "biggest".
RANK_WORDS: Final = frozenset(
    {
        "top", "bottom", "most", "least", "biggest", "largest", "greatest", "highest",
        "lowest", "best", "worst", "fastest", "rank", "ranked", "ranking", "first",
    }
)  # fmt: skip
#: Verbs of assignment and the field they ask about ("Who owns Globex?").
ASSIGNMENT_VERBS: Final[dict[str, str | None]] = {
    "owns": "account_owner",
    "own": "account_owner",
    "owned": "account_owner",
    "manages": "assigned_csm",
    "managed": "assigned_csm",
    "manage": "assigned_csm",
    "handles": "assigned_csm",
    "handle": "assigned_csm",
    "responsible": "assigned_csm",
    "assigned": "assigned_csm",
    "use": "products_used",
    "uses": "products_used",
    "using": "products_used",
    "running": "playbooks_running",
    "run": "playbooks_running",
    "assignments": None,
    "team": None,
    "who": None,
}
#: Words that ask for the whole state of an account rather than one field.
OVERVIEW_WORDS: Final = frozenset(
    {
        "state", "snapshot", "overview", "summary", "summarise", "summarize", "doing", "look",
        "looked", "looks", "going", "details", "profile",
    }
)  # fmt: skip
PLURAL_SUBJECTS: Final = frozenset({"accounts", "customers", "clients", "companies"})
SINGULAR_SUBJECTS: Final = frozenset({"account", "customer", "client", "company"})
#: Words that ask for every account ("list all accounts").
EVERY_WORDS: Final = frozenset({"all", "every", "list"})

#: Words with no meaning of their own in a question.
STOPWORDS: Final = frozenset(
    {
        "a", "an", "the", "of", "for", "to", "in", "on", "at", "by", "with", "and", "or", "is",
        "are", "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did",
        "what", "which", "who", "whom", "whose", "how", "much", "many", "me", "my", "our",
        "we", "us", "i", "you", "your", "show", "list", "tell", "give", "find", "get", "see",
        "please", "can", "could", "would", "will", "should", "there", "their", "them", "they",
        "it", "its", "this", "that", "these", "those", "as", "from", "about", "than", "any",
        "all", "each", "per", "so", "like", "now", "currently", "current", "latest", "value",
        "values", "number", "level", "levels", "right", "just", "also", "still", "where",
        "when", "whether", "if", "into", "between", "during", "over", "since", "ago", "last",
        "past", "time", "times", "period", "then", "ever", "very", "some", "here", "her", "his",
        "him", "she", "he", "whats", "what's", "done", "up", "down", "across", "among",
        "around", "via", "exact", "exactly", "roughly", "approximately", "ours", "search",
        "look", "lookup", "display", "fetch", "pull", "view", "anything", "something",
        "recent", "recently", "same", "other", "others", "only", "again", "yet", "already",
        "after", "before", "while", "within", "without", "out", "off", "used", "got", "gotten",
        "become", "became", "go", "went", "gone", "goes", "make", "made", "know", "need",
        "want", "let", "lets", "let's", "am", "ok", "okay", "hi", "hello", "thanks", "thank",
        "more", "less", "most", "least", "significantly", "greatly", "slightly", "really",
        "quickly", "sharply", "steadily", "lately", "overall", "total", "ones",
        "way", "lot", "bit", "name", "names", "date", "dates", "no", "zero",
        # Thai function words: "of", "about", "with", "and", "that".
        "ของ", "เกี่ยวกับ", "กับ", "และ", "ที่",
    }
)  # fmt: skip

#: Words that end a person's name written after "managed by" and the like.
NAME_STOPS: Final = STOPWORDS | PLURAL_SUBJECTS | SINGULAR_SUBJECTS

#: Parts of company names that say nothing about which company it is.
CORPORATE_WORDS: Final = frozenset(
    {
        "inc", "inc.", "corp", "corp.", "corporation", "co", "co.", "company", "ltd", "ltd.",
        "limited", "llc", "plc", "gmbh", "ag", "sa", "kk", "bv", "nv", "pte", "pty", "group",
        "holdings", "holding", "solutions", "services", "systems", "technologies", "tech",
        "international", "global", "partners", "enterprises", "industries", "labs", "networks",
        "consulting", "capital", "analytics", "data", "cloud", "digital", "learning", "traders",
        "trading", "freight", "foods", "motors", "robotics", "pharma", "financial", "bank",
        "north", "south", "east", "west", "america", "americas", "asia", "pacific", "&",
        "บริษัท", "จำกัด", "(มหาชน)", "มหาชน",
    }
)  # fmt: skip


def _words(phrases: Iterable[str]) -> set[str]:
    return {word for phrase in phrases for word in phrase.split()}


#: Words that never name an account on their own: a mention needs one word that
#: is not among them ("Acme" can name "Acme Corp"; "corp" or "health" cannot).
COMMON_WORDS: Final = frozenset(
    STOPWORDS
    | CORPORATE_WORDS
    | PLURAL_SUBJECTS
    | SINGULAR_SUBJECTS
    | NOTE_WORDS
    | REPORT_WORDS
    | TOPIC_MARKERS
    | HISTORY_WORDS
    | CHANGE_WORDS
    | IMPROVE_WORDS
    | DECLINE_WORDS
    | RANK_WORDS
    | OVERVIEW_WORDS
    | NEGATIONS
    | set(ASSIGNMENT_VERBS)
    | set(NUMBER_WORDS)
    | set(MULTIPLIERS)
    | _words(FIELD_SYNONYMS)
    | _words(STATUS_VALUES)
    | _words(TIER_VALUES)
    | _words(REGION_VALUES)
    | _words(INDUSTRY_VALUES)
    | _words(COMPARISONS)
    | _words(TRAILING_BOUNDS)
    | {
        "january", "february", "march", "april", "may", "june", "july", "august", "september",
        "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
        "sep", "sept", "oct", "nov", "dec", "today", "yesterday", "week", "weeks", "month",
        "months", "quarter", "quarters", "year", "years", "day", "days", "kpi", "kpis", "q1",
        "q2", "q3", "q4", "ytd", "risk", "risky",
    }
)  # fmt: skip
