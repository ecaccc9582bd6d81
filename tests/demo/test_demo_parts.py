"""The demo's building blocks, without a database: readings, files, calendar, reports."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tidemark.demo import DemoSummary
from tidemark.demo.course import draw_course
from tidemark.demo.kpi_values import UploadRow, kpi_reading, upload_file
from tidemark.demo.playbooks import PLAYBOOKS, ReportPeople, build_report, improvement
from tidemark.demo.profiles import ACCOUNTS, CATEGORY_WEIGHTS, DECLINING, IMPROVING
from tidemark.demo.service import display_width, pad
from tidemark.demo.timeline import MONTHS, history_months
from tidemark.success.catalog import STANDARD_KPIS, StandardKPI
from tidemark.success.scoring import CRITICAL, HEALTHY, RISK, kpi_status
from tidemark.success.triggers import check_condition

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@pytest.mark.parametrize("kpi", STANDARD_KPIS, ids=lambda k: k.name)
def test_readings_are_written_as_files_write_them_and_graded_by_condition(
    kpi: StandardKPI,
) -> None:
    for condition, expected in ((0.1, CRITICAL), (0.5, RISK), (0.9, HEALTHY)):
        value, text = kpi_reading(kpi, condition)
        # The text starts with the very number that is stored, as a parser would read it.
        match = NUMBER.match(text)
        assert match is not None, text
        assert Decimal(match.group()) == value
        assert text != str(value) or kpi.unit == "score"
        status = kpi_status(value, direction=kpi.direction, critical=kpi.critical, risk=kpi.risk)
        assert status == expected, (condition, text)


def test_a_better_condition_never_gives_a_worse_value() -> None:
    for kpi in STANDARD_KPIS:
        values = [kpi_reading(kpi, c / 20)[0] for c in range(21)]
        ordered = sorted(values, reverse=kpi.direction == "lower")
        assert values == ordered, kpi.name


def test_upload_file_is_a_csv_whose_rows_match_the_parsed_data() -> None:
    rows = [
        UploadRow(
            "Product Usage",
            "Product Adoption Rate",
            "85%",
            Decimal(85),
            "High",
            "Monthly",
            "Analytics Suite",
        ),
        UploadRow(
            "Customer Sentiment",
            "Sentiment Score",
            "4.2/5",
            Decimal("4.2"),
            "Medium",
            "Monthly",
            None,
        ),
    ]
    raw, parsed = upload_file("บริษัท สยามคอมเมิร์ซ จำกัด", "ACC-1023", rows)
    lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert [line["Data"] for line in lines] == ["85%", "4.2/5"]
    assert [line["Product"] for line in lines] == ["Analytics Suite", ""]
    assert {line["Account Name"] for line in lines} == {"บริษัท สยามคอมเมิร์ซ จำกัด"}
    assert [p["value"] for p in parsed] == ["85", "4.2"]
    assert [p["row"] for p in parsed] == [2, 3]


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        (datetime(2025, 3, 15, 12, tzinfo=UTC), (2024, 4), (2025, 3)),
        # The March upload (the 3rd, 09:00) and its quiet hour are not over yet.
        (datetime(2025, 3, 3, 10, tzinfo=UTC), (2024, 3), (2025, 2)),
        (datetime(2025, 1, 1, tzinfo=UTC), (2024, 1), (2024, 12)),
        (datetime(2024, 12, 31, 23, 59, tzinfo=UTC), (2024, 1), (2024, 12)),
    ],
)
def test_history_is_the_twelve_months_whose_upload_is_over(
    now: datetime, first: tuple[int, int], last: tuple[int, int]
) -> None:
    months = history_months(now)
    assert len(months) == MONTHS
    assert months[0] == first and months[-1] == last
    assert len(set(months)) == MONTHS


def test_courses_go_the_way_their_trajectory_says() -> None:
    rng = random.Random(1)
    for profile in ACCOUNTS:
        course = draw_course(rng, profile)
        change = course.shift(MONTHS - 1) - course.shift(0)
        if profile.trajectory == IMPROVING:
            assert change > 0.1, profile.name
        elif profile.trajectory == DECLINING:
            assert change < -0.1, profile.name


def test_the_tenant_setup_follows_the_seed() -> None:
    names = [a.name for a in ACCOUNTS]
    assert len(names) == len(set(names)) == 25
    assert {"TechCorp Solutions", "Acme Corp"} <= set(names)
    assert any(re.search("[\u0e00-\u0e7f]", name) for name in names)
    assert sum(a.revenue > 1_000_000 for a in ACCOUNTS) >= 3
    assert sum(1 for a in ACCOUNTS if a.churn_month is not None) == 1
    assert all(1 <= len(a.products) <= 3 for a in ACCOUNTS)
    assert sum(CATEGORY_WEIGHTS.values()) == pytest.approx(1)
    for playbook in PLAYBOOKS.values():
        check_condition(playbook.trigger)


@pytest.mark.parametrize(
    ("metric", "before", "after", "expected"),
    [
        ("Customer Satisfaction Score", 72, 80.64, "+12%"),
        ("overall_health_score", 80, 60, "-25%"),
        # Lower is better: a faster first response is an improvement.
        ("First Response Time", 20, 10, "+50%"),
        ("Net Promoter Score", -5, 14, "+19 pts"),
        ("Net Promoter Score", 0, 0, "+0 pts"),
    ],
)
def test_improvement_says_better_with_a_plus(
    metric: str, before: float, after: float, expected: str
) -> None:
    assert improvement(metric, before, after) == expected


def test_a_report_has_the_sections_the_assistant_reads() -> None:
    playbook = PLAYBOOKS["renewal-safeguard"]
    started = datetime(2025, 1, 6, 10, tzinfo=UTC)
    report = build_report(
        playbook,
        people=ReportPeople("Acme Corp", "John Smith", "Laura Chen", "David Miller", "Jane Doe"),
        started_at=started,
        as_of=datetime(2025, 2, 20, 10, tzinfo=UTC),
        before={
            "overall_health_score": 62.5,
            "Executive Sponsor Engagement": 2.8,
            "First Response Time": 20,
        },
        after={
            "overall_health_score": 74.0,
            "Executive Sponsor Engagement": 3.6,
            "First Response Time": 9,
        },
        steps_completed=6,
        completed=True,
    )
    assert set(report) >= {
        "executive_summary",
        "outcomes_achieved",
        "raci",
        "exit_criteria",
        "recommendations",
    }
    assert report["outcomes_achieved"]["Overall health score"] == {
        "before": 62.5,
        "after": 74.0,
        "improvement": "+18%",
    }
    assert "ran 45 days" in report["executive_summary"]
    assert "3 of 3 exit criteria met" in report["executive_summary"]
    assert all(c["met"] for c in report["exit_criteria"])
    assert report["raci"]["responsible"] == "John Smith (CSM)"
    assert report["recommendations"] == list(playbook.recommendations_good)


def summary(**overrides: object) -> DemoSummary:
    fields: dict[str, object] = {
        "customer_id": 1,
        "customer_name": "Test Company",
        "user_email": "test@test.com",
        "history_start": datetime(2024, 4, 3, 9, tzinfo=UTC),
        "history_end": datetime(2025, 3, 15, 12, tzinfo=UTC),
        "accounts": 25,
        "kpis": 625,
        "snapshots_by_type": {"manual": 1, "scheduled": 1225},
        "biggest_movers": [
            ("Acme Corp", Decimal("60.00"), Decimal("85.50"), Decimal("25.50")),
            ("บริษัท สยามคอมเมิร์ซ จำกัด", Decimal("70.00"), Decimal("50.00"), Decimal("-20.00")),
        ],
    }
    fields.update(overrides)
    return DemoSummary(**fields)  # type: ignore[arg-type]


def test_render_gives_counts_movers_user_and_next_commands() -> None:
    lines = summary().render()
    text = "\n".join(lines)
    assert lines[0].startswith('Loaded demo tenant "Test Company" (customer 1)')
    assert "25 accounts, 625 KPIs" in text
    assert "Snapshots: 1,226" in text
    assert any(re.fullmatch(r"\s+scheduled\s+1,225", line) for line in lines)
    assert any("Acme Corp" in line and "(+25.50)" in line for line in lines)
    assert any("(-20.00)" in line for line in lines)
    assert "test@test.com" in text
    assert "tidemark snapshot latest" in text
    assert 'tidemark snapshot history --account "TechCorp Solutions" --months 6' in text


def test_mover_names_line_up_on_a_terminal_even_in_thai() -> None:
    thai = "บริษัท สยามคอมเมิร์ซ จำกัด"
    assert display_width(thai) < len(thai)
    assert display_width(pad(thai, 30)) == 30
    lines = [line for line in summary().render() if "->" in line]
    assert len(lines) == 2
    assert len({display_width(line.split("->")[0]) for line in lines}) == 1
