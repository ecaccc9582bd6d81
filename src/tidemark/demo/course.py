"""How an account's latent condition moves over the year, and its figures each month."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from tidemark.demo.profiles import DECLINING, IMPROVING, RECOVERING, VOLATILE, AccountProfile
from tidemark.demo.timeline import MONTHS
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.scoring import CATEGORY_FIELDS
from tidemark.tenancy.models import CATEGORIES

TECHCORP = "TechCorp Solutions"


@dataclass(slots=True)
class Course:
    """The latent course of an account's condition (0-1) over the year."""

    trajectory: str
    base: float
    amplitude: float
    center: float
    phase: float
    category_offsets: dict[str, float]
    category_sensitivity: dict[str, float]
    kpi_offsets: dict[str, float]
    category_noise: float
    kpi_noise: float

    def shift(self, k: int) -> float:
        """How far month ``k`` sits above (+) or below (-) the account's base condition."""
        t = k / (MONTHS - 1)
        if self.trajectory in (IMPROVING, DECLINING):
            # A logistic step, normalised to run from -1/2 to +1/2 over the year.
            def step(x: float) -> float:
                return 1 / (1 + math.exp(-(x - self.center) * 9))

            s = (step(t) - step(0)) / (step(1) - step(0)) - 0.5
            return self.amplitude * s if self.trajectory == IMPROVING else -self.amplitude * s
        if self.trajectory == VOLATILE:
            return self.amplitude * math.sin(2 * math.pi * (1.6 * t + self.phase))
        if self.trajectory == RECOVERING:
            return -self.amplitude * math.sin(math.pi * t) + 0.04 * t
        return self.amplitude * (t - 0.5)


def draw_course(rng: random.Random, profile: AccountProfile) -> Course:
    """A course that fits the account's trajectory, with its own offsets and noise."""
    trajectory = profile.trajectory
    if trajectory == IMPROVING:
        base, amplitude = rng.uniform(0.62, 0.65), rng.uniform(0.13, 0.17)
    elif trajectory == DECLINING:
        base, amplitude = rng.uniform(0.6, 0.63), rng.uniform(0.13, 0.17)
    elif trajectory == VOLATILE:
        base, amplitude = rng.uniform(0.62, 0.66), rng.uniform(0.045, 0.065)
    elif trajectory == RECOVERING:
        base, amplitude = rng.uniform(0.63, 0.65), rng.uniform(0.12, 0.14)
    else:
        base, amplitude = rng.uniform(0.62, 0.7), rng.uniform(-0.03, 0.03)
    offsets = {category: rng.gauss(0, 0.04) for category in CATEGORIES}
    if profile.name == TECHCORP:
        # TechCorp's dip is a sentiment problem first: it is why a VoC Sprint runs.
        offsets["Customer Sentiment"] -= 0.08
    return Course(
        trajectory=trajectory,
        base=base,
        amplitude=amplitude,
        center=rng.uniform(0.35, 0.65),
        phase=rng.random(),
        category_offsets=offsets,
        category_sensitivity={category: rng.uniform(0.6, 1.4) for category in CATEGORIES},
        kpi_offsets={kpi.name: rng.gauss(0, 0.09) for kpi in STANDARD_KPIS},
        category_noise=0.03 if trajectory == VOLATILE else 0.012,
        kpi_noise=0.025,
    )


@dataclass(slots=True)
class MonthFigures:
    """An account's KPI values and health scores for one simulated month."""

    values: dict[str, Decimal]
    categories: dict[str, Decimal | None]
    overall: Decimal | None

    def metric(self, name: str) -> float:
        """A score field (``overall_health_score``, ``support_score``...) or a KPI value."""
        if name == "overall_health_score":
            return float(self.overall or 0)
        for category, field_name in CATEGORY_FIELDS.items():
            if field_name == name:
                return float(self.categories[category] or 0)
        return float(self.values[name])
