"""Who is in the demo tenant: its accounts, their trajectories, and the CS team."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

CUSTOMER_NAME: Final = "Test Company"
CUSTOMER_EMAIL: Final = "cs-ops@testcompany.example"
USER_NAME: Final = "Test User"
USER_EMAIL: Final = "test@test.com"

#: The tenant's category weights (they sum to 1).
CATEGORY_WEIGHTS: Final[dict[str, float]] = {
    "Product Usage": 0.25,
    "Support": 0.2,
    "Customer Sentiment": 0.2,
    "Business Outcomes": 0.2,
    "Relationship Strength": 0.15,
}

#: The customer-success team that owns the accounts.
CSM_TEAM: Final[tuple[str, ...]] = ("John Smith", "Maria Santos", "Priya Raman", "Niran Wongsakul")
CSM_MANAGER: Final = "Laura Chen"
ACCOUNT_OWNERS: Final[tuple[str, ...]] = ("David Miller", "Aisha Khan", "Tom Becker")

#: Pools the champions of each account are drawn from.
FIRST_NAMES: Final[tuple[str, ...]] = (
    "Jane", "Michael", "Sofia", "Daniel", "Emma", "Lucas", "Olivia", "Ethan", "Chloe", "Noah",
    "Hannah", "Ravi", "Mei", "Carlos", "Fatima", "Jonas", "Elena", "Kenji", "Grace", "Omar",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Doe", "Brown", "Rossi", "Novak", "Walsh", "Fischer", "Tanaka", "Okafor", "Lindqvist",
    "Moreau", "Haddad", "Kowalski", "Sato", "Ibrahim", "Nguyen", "Park", "Silva", "Jensen",
)  # fmt: skip
THAI_FIRST_NAMES: Final[tuple[str, ...]] = ("สมชาย", "วิภา", "ธนากร", "อรุณี", "ประเสริฐ")
THAI_LAST_NAMES: Final[tuple[str, ...]] = ("ใจดี", "ศรีสุข", "วงศ์ไทย", "แก้วมณี", "ทองคำ")

#: Products of the platform that accounts subscribe to.
PRODUCTS: Final[tuple[str, ...]] = (
    "Analytics Suite",
    "Engagement Hub",
    "Data Connect",
    "Insights API",
    "Mobile SDK",
)

#: How an account's health moves over the year.
IMPROVING: Final = "improving"
DECLINING: Final = "declining"
STABLE: Final = "stable"
VOLATILE: Final = "volatile"
RECOVERING: Final = "recovering"
TRAJECTORIES: Final[tuple[str, ...]] = (IMPROVING, DECLINING, STABLE, VOLATILE, RECOVERING)


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """One demo account as it starts the year, and the course it will take."""

    name: str
    industry: str
    region: str
    revenue: Decimal
    tier: str
    trajectory: str
    products: tuple[str, ...]
    #: Month index of the contract renewal (0-11 inside the year, 12 just after it).
    renewal_month: int | None = None
    #: Still onboarding when the year starts.
    onboarding: bool = False
    #: Month index at which the account churns.
    churn_month: int | None = None
    thai: bool = False


def _p(
    name: str,
    industry: str,
    region: str,
    revenue: str,
    tier: str,
    trajectory: str,
    products: tuple[str, ...],
    *,
    renewal_month: int | None = None,
    onboarding: bool = False,
    churn_month: int | None = None,
    thai: bool = False,
) -> AccountProfile:
    return AccountProfile(
        name,
        industry,
        region,
        Decimal(revenue),
        tier,
        trajectory,
        products,
        renewal_month=renewal_month,
        onboarding=onboarding,
        churn_month=churn_month,
        thai=thai,
    )


AS, EH, DC, API, SDK = PRODUCTS

#: The 25 accounts. TechCorp Solutions and Acme Corp are the seed's named accounts.
ACCOUNTS: Final[tuple[AccountProfile, ...]] = (
    _p("TechCorp Solutions", "Technology", "North America", "1200000", "Enterprise", RECOVERING,
       (AS, EH, DC), renewal_month=12),
    _p("Acme Corp", "Manufacturing", "North America", "1850000", "Enterprise", IMPROVING,
       (AS, DC), renewal_month=7),
    _p("DataCo Inc", "Technology", "EMEA", "640000", "Growth", IMPROVING, (AS, API),
       renewal_month=9),
    _p("Northwind Traders", "Retail", "North America", "420000", "Growth", STABLE, (EH,),
       renewal_month=4),
    _p("Contoso Retail", "Retail", "EMEA", "310000", "Growth", STABLE, (EH, SDK), renewal_month=10),
    _p("Fabrikam Manufacturing", "Manufacturing", "EMEA", "780000", "Enterprise", STABLE, (AS, DC),
       renewal_month=2),
    _p("Summit Logistics", "Logistics", "North America", "265000", "Growth", VOLATILE, (DC,),
       renewal_month=6),
    _p("BlueRiver Analytics", "Technology", "North America", "190000", "Standard", VOLATILE, (AS,),
       renewal_month=8),
    _p("Pinnacle Health Group", "Healthcare", "North America", "960000", "Enterprise", STABLE,
       (AS, EH, API), renewal_month=5),
    _p("Evergreen Energy", "Energy", "EMEA", "530000", "Growth", STABLE, (AS, DC),
       renewal_month=11),
    _p("Harbor Financial", "Financial Services", "North America", "2400000", "Strategic", STABLE,
       (AS, EH, DC), renewal_month=3),
    _p("Nimbus Cloud Services", "Technology", "APAC", "1350000", "Enterprise", IMPROVING,
       (API, SDK, DC), renewal_month=10),
    _p("Vertex Manufacturing", "Manufacturing", "APAC", "455000", "Growth", VOLATILE, (AS, DC),
       renewal_month=4),
    _p("Orion Telecom", "Telecommunications", "EMEA", "720000", "Enterprise", DECLINING, (EH, SDK),
       renewal_month=9, churn_month=9),
    _p("Silverline Retail", "Retail", "LATAM", "240000", "Standard", DECLINING, (EH,),
       renewal_month=7),
    _p("Cascade Media", "Media", "North America", "175000", "Standard", DECLINING, (EH, SDK),
       renewal_month=6),
    _p("Keystone Insurance", "Insurance", "North America", "880000", "Enterprise", DECLINING,
       (AS, API), renewal_month=8),
    _p("Redwood Education", "Education", "North America", "120000", "Standard", STABLE, (EH,),
       renewal_month=1),
    _p("Atlas Freight", "Logistics", "LATAM", "330000", "Growth", DECLINING, (DC, SDK),
       renewal_month=5),
    _p("Lumen Biotech", "Biotech", "EMEA", "590000", "Growth", IMPROVING, (AS, API),
       renewal_month=11),
    _p("Brightpath Learning", "Education", "APAC", "95000", "Standard", IMPROVING, (EH,),
       onboarding=True),
    _p("Meridian Hospitality", "Hospitality", "APAC", "285000", "Growth", STABLE, (EH, SDK),
       renewal_month=2),
    _p("บริษัท สยามคอมเมิร์ซ จำกัด", "Retail", "APAC", "410000", "Growth", IMPROVING, (EH, DC, SDK),
       onboarding=True, thai=True),
    _p("บริษัท กรุงเทพ โลจิสติกส์ จำกัด", "Logistics", "APAC", "230000", "Standard", STABLE, (DC,),
       renewal_month=8, thai=True),
    _p("Sakura Robotics KK", "Manufacturing", "APAC", "670000", "Growth", VOLATILE, (AS, API),
       onboarding=True),
)  # fmt: skip
