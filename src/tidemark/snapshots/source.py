"""Read the current state of many accounts from the source tables, set-based.

``read_account_states`` runs the same seven queries whatever the number of
accounts in the batch: no query per account. Everything time-dependent is
taken as of ``at`` (notes, reports and playbooks that existed then, the health
trend of that month or before), so a simulation that moves a clock captures
the same thing a live capture would have.

Capture touches every KPI row of every account it snapshots (25 per account in
the standard catalog), so the KPI query is the hot spot of a large capture: it
grades and sums in the database and returns one row per account (see
``_kpi_query``). Rows are read as the driver returns them wherever no type
conversion is needed, values are compared in their stored form, and the
batch's ids travel as one parameter (a JSON array on SQLite, an array on
PostgreSQL), so each statement compiles once and is reused from SQLAlchemy's
cache. How each choice was measured: ``docs/STORAGE.md``.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    any_,
    case,
    cast,
    column,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import NullType

from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    KPIReferenceRange,
    PlaybookExecution,
    PlaybookReport,
    Product,
)
from tidemark.success.scoring import (
    CATEGORY_FIELDS,
    CODE_POINTS,
    IMPACT_RANK,
    STATUS_CODES,
    overall_score,
    round_score,
)
from tidemark.success.triggers import condition_met
from tidemark.tenancy.models import CATEGORIES

RECENT_NOTES = 5
RECENT_REPORTS = 3
TOP_CRITICAL = 5

_UNKNOWN_IMPACT = len(IMPACT_RANK)


@dataclass(frozen=True, slots=True)
class TriggerRule:
    """An enabled playbook trigger: the playbook it recommends and its condition."""

    playbook_type: str
    conditions: Mapping[str, Any]


def stored(column: Any) -> Any:
    """A column read in its stored form, skipping the type's Python conversion.

    Only for comparing or dividing values of columns with the same scale: on
    SQLite a ``Fixed`` column comes back as its scaled integer, on PostgreSQL as
    the driver's Decimal.
    """
    return type_coerce(column, NullType())


def ids_in(connection: Connection, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids`` with the ids bound as one parameter."""
    if connection.dialect.name == "postgresql":
        matches: ColumnElement[bool] = column == any_(literal(list(ids), ARRAY(Integer)))
        return matches
    members: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(literal(json.dumps(list(ids))))
    )
    within: ColumnElement[bool] = column.in_(members.scalar_subquery())
    return within


def plain_rows(
    connection: Connection, statement: Any, parameters: Mapping[str, Any] | None = None
) -> Sequence[Any]:
    """The rows of ``statement`` as the driver returns them, without Row objects.

    Only for statements whose columns need no Python conversion (integers,
    text, stored forms): building a Row per result row is a measurable part of
    reading a batch, and of reading back a thousand snapshots.
    """
    result = connection.execute(statement, parameters)
    try:
        rows: Sequence[Any] = result.cursor.fetchall()
    finally:
        result.close()
    return rows


@dataclass(slots=True)
class KpiSummary:
    """What capture needs of one account's KPIs, as the KPI query sums them."""

    account_level: int = 0
    #: Graded KPIs by status code: Critical, Risk, Healthy.
    statuses: list[int] = field(default_factory=lambda: [0, 0, 0])
    #: KPIs per product id, for choosing the primary product.
    per_product: dict[int, int] = field(default_factory=dict)
    #: Per category index: sum of weight x status points, and sum of weights (graded KPIs).
    weighted: list[Any] = field(default_factory=lambda: [0] * len(CATEGORIES))
    weights: list[Any] = field(default_factory=lambda: [0] * len(CATEGORIES))
    #: (impact rank, -weight, kpi id, name, category, value as written, impact) per Critical KPI.
    critical_entries: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every KPI of the account, graded or not."""
        return self.account_level + sum(self.per_product.values())


_STEP = CODE_POINTS[1] - CODE_POINTS[0]
if any(CODE_POINTS[code] != CODE_POINTS[0] + code * _STEP for code in range(3)):
    # The SQL below sums weight x status code and scales it; that needs evenly spaced points.
    raise RuntimeError("KPI status points must be evenly spaced")


def _constant(text: str) -> Any:
    """A string from this code, written into the SQL rather than bound.

    SQLite compares a column with a bound parameter several times slower than
    with a literal, and the KPI query makes such comparisons per KPI row.
    """
    return literal_column("'" + text.replace("'", "''") + "'")


def _kpi_query(connection: Connection, customer_id: int, ids: Sequence[int]) -> Any:
    """One row per account: counts, category sums, Critical KPIs and product ids of its KPIs.

    Each KPI is graded against the tenant's reference range. With the sign of
    the range's direction folded into value and thresholds, "worse than" is
    always "less than", and the status code is ``(x >= critical) + (x >= risk)``
    (0 Critical, 1 Risk, 2 Healthy): two comparisons per row instead of a
    conditional, which SQLite would evaluate again for each aggregate that uses
    it. A range whose risk threshold is worse than its critical one grades as if
    they were equal, as ``kpi_status`` does.

    The per-category sums are ``FILTER``ed rather than summing a ``CASE``: a
    filtered aggregate is not stepped at all for the rows of other categories,
    where a ``CASE`` steps each of the ten sums with a NULL for every row. Counts
    that follow from other columns are not aggregated: the graded KPIs are the
    Critical ones plus those not Critical, the product-level ones are the product
    ids listed. Both made the query a tenth cheaper on SQLite.
    """
    r = KPIReferenceRange
    sign = case(
        (r.direction == _constant("higher"), literal_column("1")), else_=literal_column("-1")
    )
    critical = stored(r.critical_threshold) * sign
    risk = stored(r.risk_threshold) * sign
    ranges = (
        select(
            r.kpi_parameter.label("parameter"),
            sign.label("sign"),
            critical.label("critical"),
            case((risk < critical, critical), else_=risk).label("risk"),
        )
        # Written into the SQL: with a bound value here SQLite plans a scan of the
        # ranges per KPI row instead of an index.
        .where(r.customer_id == literal(int(customer_id), literal_execute=True))
        .cte("ranges")
        .prefix_with("MATERIALIZED")
    )
    # NULL when the KPI has no value or no range: such a KPI is counted but not graded.
    x = stored(KPI.value) * ranges.c.sign
    not_critical = cast(x >= ranges.c.critical, Integer)
    healthy = cast(x >= ranges.c.risk, Integer)
    weight = stored(KPI.weight)
    postgres = connection.dialect.name == "postgresql"
    collect = func.json_agg if postgres else func.json_group_array
    array = func.json_build_array if postgres else func.json_array
    columns: list[Any] = [
        KPI.account_id,
        func.count(),
        func.sum(not_critical),
        func.sum(healthy),
    ]
    for category in CATEGORIES:
        in_category = KPI.category == _constant(category)
        columns.append(func.sum(weight * (not_critical + healthy)).filter(in_category))
        columns.append(func.sum(weight).filter(and_(in_category, x.is_not(None))))
    columns.append(
        collect(
            array(KPI.kpi_id, KPI.kpi_parameter, KPI.category, KPI.data, KPI.impact_level, weight)
        ).filter(x < ranges.c.critical)
    )
    columns.append(collect(KPI.product_id).filter(KPI.product_id.is_not(None)))
    return (
        select(*columns)
        .select_from(KPI)
        .outerjoin(ranges, ranges.c.parameter == KPI.kpi_parameter)
        .where(KPI.customer_id == customer_id, ids_in(connection, KPI.account_id, ids))
        .group_by(KPI.account_id)
    )


_raw_decode = json.JSONDecoder().raw_decode


def _json_list(value: Any) -> list[Any]:
    # SQLite hands JSON back as text, PostgreSQL (psycopg) already decoded; none is None.
    if value is None:
        return []
    if isinstance(value, str):
        # The database wrote it: no surrounding whitespace to skip, as loads() would.
        decoded: list[Any] = _raw_decode(value)[0]
        return decoded
    return list(value)


def kpi_summaries(
    connection: Connection, customer_id: int, ids: Sequence[int]
) -> dict[int, KpiSummary]:
    """Counts, category sums, KPIs per product and Critical KPIs of every account.

    Graded and summed in the database: handing 25 rows per account to Python
    costs more than the aggregate, on SQLite as on PostgreSQL.
    """
    return _summaries(plain_rows(connection, _kpi_query(connection, customer_id, ids)))


def _summaries(rows: Iterable[Sequence[Any]]) -> dict[int, KpiSummary]:
    """KPI summaries from the rows of ``_kpi_query``."""
    summaries: dict[int, KpiSummary] = {}
    width = len(CATEGORIES)
    low, step = CODE_POINTS[0], _STEP
    for row in rows:
        critical = _json_list(row[4 + 2 * width])
        product_ids = _json_list(row[5 + 2 * width])
        not_critical, healthy = int(row[2] or 0), int(row[3] or 0)
        per_product: dict[int, int] = {}
        for product_id in product_ids:
            per_product[product_id] = per_product.get(product_id, 0) + 1
        weighted: list[Any] = [0] * width
        weights: list[Any] = [0] * width
        for i in range(width):
            total_weight = row[5 + 2 * i]
            if total_weight:
                weights[i] = total_weight
                weighted[i] = low * total_weight + step * row[4 + 2 * i]
        summaries[row[0]] = KpiSummary(
            account_level=int(row[1]) - len(product_ids),
            statuses=[len(critical), not_critical - healthy, healthy],
            per_product=per_product,
            weighted=weighted,
            weights=weights,
            critical_entries=[
                (
                    IMPACT_RANK.get(impact, _UNKNOWN_IMPACT),
                    -weight,
                    kpi_id,
                    name,
                    category,
                    data,
                    impact,
                )
                for kpi_id, name, category, data, impact, weight in critical
            ],
        )
    return summaries


class KpiPrefetch:
    """Sums the KPIs of a capture's next batch on a second thread, beside this batch's work.

    The KPI aggregate is the largest query of a capture, and on SQLite it runs
    inside this process. Started once a batch's other queries are done, it runs
    while that batch's fields are assembled, encoded and hashed in Python:
    Python's sqlite3 module releases the interpreter lock while SQLite steps a
    statement, so the aggregate can take the second core. It runs on the
    capture's own connection, so in its transaction (it sees what the caller
    wrote and has not committed), and the capture leaves that connection alone
    until ``wait`` returns.

    The statement inserts its rows into a temporary table instead of returning
    them: fetching 2,000 rows would take the interpreter lock back 2,000 times
    while the other thread holds it, each time waiting for that thread to yield
    (up to 5 ms). The capture reads the table when the statement is done.
    """

    TABLE = "tidemark_capture_kpis"
    #: Columns of ``_kpi_query``: account, 3 counts, 2 sums per category, 2 lists.
    WIDTH = 4 + 2 * len(CATEGORIES) + 2

    def __init__(self, connection: Connection, customer_id: int) -> None:
        self._connection = connection
        self._customer_id = customer_id
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._names = [f"c{i}" for i in range(self.WIDTH)]
        self._table = table(self.TABLE, *(column(name) for name in self._names), schema="temp")
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {self.TABLE} ({', '.join(self._names)})"
        )
        connection.exec_driver_sql(f"DELETE FROM temp.{self.TABLE}")

    @staticmethod
    def supported(connection: Connection) -> bool:
        """Whether to prefetch on ``connection``: SQLite (in-process) and usable from a thread.

        Elsewhere the database has a process of its own. A SQLite connection made
        with ``check_same_thread`` (an in-memory database, by default) refuses
        other threads: ask it once, from one.
        """
        if connection.dialect.name != "sqlite":
            return False
        dbapi_connection = connection.connection.dbapi_connection
        usable: list[bool] = []

        def probe() -> None:
            try:
                dbapi_connection.cursor().close()  # type: ignore[union-attr]
            except Exception:
                usable.append(False)
            else:
                usable.append(True)

        thread = threading.Thread(target=probe, name="tidemark-kpi-prefetch-probe")
        thread.start()
        thread.join()
        return usable == [True]

    def start(self, account_ids: Sequence[int]) -> None:
        """Begin summing the KPIs of ``account_ids``; leave the connection alone until ``wait``."""
        if self._thread is not None:
            raise RuntimeError("the previous batch's KPIs have not been collected")
        statement = insert(self._table).from_select(
            self._names, _kpi_query(self._connection, self._customer_id, list(account_ids))
        )

        def run() -> None:
            try:
                self._connection.execute(statement)
            except BaseException as error:  # handed to the capture's thread by wait()
                self._error = error

        self._thread = threading.Thread(target=run, name="tidemark-kpi-prefetch", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Block until the statement is done; raise its error, if it failed."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def summaries(self) -> dict[int, KpiSummary]:
        """The summaries of the batch last started (after ``wait``), and an empty table."""
        rows = plain_rows(self._connection, select(self._table))
        self._connection.exec_driver_sql(f"DELETE FROM temp.{self.TABLE}")
        return _summaries(rows)

    def abandon(self) -> None:
        """Wait for any statement still running and forget its outcome (the capture failed)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self._error = None

    def close(self) -> None:
        """Drop the temporary table, once every batch is written."""
        self.abandon()
        self._connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{self.TABLE}")


def _top_critical(summary: KpiSummary | None) -> list[dict[str, Any]]:
    """Up to five Critical KPIs: highest impact, then heaviest, then oldest first."""
    if summary is None or not summary.critical_entries:
        return []
    return [
        {
            "kpi_name": parameter,
            "category": category,
            "value": data,
            "impact_level": impact,
            "health_status": STATUS_CODES[0],
        }
        for _, _, _, parameter, category, data, impact in sorted(
            summary.critical_entries, key=lambda entry: entry[:3]
        )[:TOP_CRITICAL]
    ]


def read_account_states(
    session: Session,
    *,
    customer_id: int,
    account_ids: Sequence[int],
    at: datetime,
    category_weights: Mapping[str, float],
    triggers: Sequence[TriggerRule],
    lock: bool = False,
) -> dict[int, dict[str, Any]]:
    """Every source-derived snapshot field of each account in ``account_ids``, as of ``at``.

    With ``lock`` the account rows are locked (PostgreSQL ``FOR UPDATE``) so that
    two captures of one account are serialised.
    """
    if not account_ids:
        return {}
    rows = read_source_rows(
        session.connection(), customer_id=customer_id, account_ids=account_ids, at=at, lock=lock
    )
    return assemble_states(rows, at=at, category_weights=category_weights, triggers=triggers)


@dataclass(slots=True)
class SourceRows:
    """What the source queries found for a batch of accounts, before fields are assembled."""

    #: The profile fields of each account found, by account id (the accounts query).
    states: dict[int, dict[str, Any]]
    products: dict[int, list[tuple[int, str]]]
    kpis: dict[int, KpiSummary]
    trends: dict[int, Any]
    executions: dict[int, list[Any]]
    reports: dict[int, list[int]]
    notes: dict[int, list[int]]


def read_source_rows(
    connection: Connection,
    *,
    customer_id: int,
    account_ids: Sequence[int],
    at: datetime,
    lock: bool = False,
    kpis: dict[int, KpiSummary] | None = None,
) -> SourceRows:
    """Run the source queries of a batch: seven, or six when ``kpis`` are already summed."""
    ids = list(account_ids)
    states: dict[int, dict[str, Any]] = {}

    # 1. accounts
    account_query = select(
        Account.account_id,
        Account.account_name,
        Account.revenue,
        Account.industry,
        Account.region,
        Account.account_status,
        Account.external_account_id,
        Account.profile_metadata,
    ).where(
        # "+ 0": found by id, then checked for the tenant; on a database without
        # planner statistics SQLite would otherwise walk all of the tenant's
        # accounts through the (customer, name) index for every batch.
        Account.customer_id + 0 == customer_id,
        ids_in(connection, Account.account_id, ids),
    )
    if lock and connection.dialect.name == "postgresql":
        account_query = account_query.order_by(Account.account_id).with_for_update()
    for row in connection.execute(account_query):
        states[row[0]] = _profile_fields(*row[1:])

    # 2. products
    products: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for account_id, product_id, name in plain_rows(
        connection,
        select(Product.account_id, Product.product_id, Product.product_name)
        .where(Product.customer_id == customer_id, ids_in(connection, Product.account_id, ids))
        .order_by(Product.account_id, Product.product_id),
    ):
        products[account_id].append((product_id, name))

    # 3. every KPI, graded against the tenant's reference ranges and summed per account
    if kpis is None:
        kpis = kpi_summaries(connection, customer_id, ids)

    # 4. latest health trend at or before the snapshot's month
    period = at.year * 100 + at.month
    trends = {
        row[0]: row
        for row in connection.execute(
            newest_per_account(
                connection,
                ids,
                HealthTrend,
                customer_id=customer_id,
                key="trend_id",
                columns=["overall_health_score", *CATEGORY_FIELDS.values()],
                order=[("year", "desc"), ("month", "desc")],
                where=lambda entity: [entity.year * 100 + entity.month <= period],
                limit=1,
            )
        )
    }

    # 5. playbook executions started by then
    executions: dict[int, list[Any]] = defaultdict(list)
    for row in connection.execute(
        select(
            PlaybookExecution.account_id,
            PlaybookExecution.playbook_id,
            PlaybookExecution.status,
            PlaybookExecution.started_at,
            PlaybookExecution.completed_at,
        )
        .where(
            PlaybookExecution.customer_id == customer_id,
            ids_in(connection, PlaybookExecution.account_id, ids),
            PlaybookExecution.started_at <= at,
        )
        .order_by(
            PlaybookExecution.account_id,
            PlaybookExecution.started_at,
            PlaybookExecution.execution_id,
        )
    ):
        executions[row[0]].append(row[1:])

    # 6. newest reports and 7. newest notes, by then
    reports = _newest_ids(
        connection,
        model=PlaybookReport,
        id_name="report_id",
        time_name="report_generated_at",
        customer_id=customer_id,
        account_ids=ids,
        at=at,
        limit=RECENT_REPORTS,
    )
    notes = _newest_ids(
        connection,
        model=AccountNote,
        id_name="note_id",
        time_name="created_at",
        customer_id=customer_id,
        account_ids=ids,
        at=at,
        limit=RECENT_NOTES,
    )

    return SourceRows(states, products, kpis, trends, executions, reports, notes)


def assemble_states(
    rows: SourceRows,
    *,
    at: datetime,
    category_weights: Mapping[str, float],
    triggers: Sequence[TriggerRule],
) -> dict[int, dict[str, Any]]:
    """Every source-derived field of each account found, from its batch's source rows.

    Python only: no query. Fills in and returns ``rows.states``.
    """
    rules = [(rule, _remembered(rule.conditions)) for rule in triggers]
    scores = _HealthScores(category_weights)
    products, kpis, trends = rows.products, rows.kpis, rows.trends
    executions, notes, reports = rows.executions, rows.notes, rows.reports
    states = rows.states
    for account_id, state in states.items():
        summary = kpis.get(account_id)
        _products_fields(
            state, products.get(account_id, []), summary.per_product if summary else {}
        )
        _kpi_fields(state, summary)
        _health_fields(state, trends.get(account_id), summary, scores)
        _playbook_fields(state, executions.get(account_id, []), at)
        state["recent_csm_note_ids"] = notes.get(account_id, [])
        state["recent_playbook_report_ids"] = reports.get(account_id, [])
        state["playbook_recommendations_active"] = sorted(
            rule.playbook_type for rule, met in rules if met(state)
        )
    return states


def id_table(connection: Connection, ids: Sequence[int]) -> Any:
    """The batch's ids as a one-column table (``value``), bound as one parameter."""
    if connection.dialect.name == "postgresql":
        rows = func.unnest(literal(list(ids), ARRAY(Integer))).table_valued("value")
        return rows.render_derived().alias("batch")
    return func.json_each(literal(json.dumps(list(ids)))).table_valued("value").alias("batch")


def newest_per_account(
    connection: Connection,
    ids: Sequence[int],
    model: Any,
    *,
    customer_id: int,
    key: str,
    columns: Sequence[str],
    order: Sequence[Any],
    where: Callable[[Any], Sequence[Any]],
    limit: int,
) -> Select[Any]:
    """For each account of the batch, its first ``limit`` rows of ``model`` in ``order``.

    Rows: the account id, then ``columns``, grouped by account in ``order``.
    Each account's rows are read through its (account, ...) index, ``limit``
    entries however long its history is (a window over all of them made each
    daily capture slower than the one before as notes piled up). ``order`` holds
    column names, optionally ``(name, "desc")``; ``where(entity)`` gives the
    conditions besides account and tenant. PostgreSQL runs it as a LATERAL join;
    SQLite, which has none, as ``key IN (correlated subquery ... LIMIT)``,
    which PostgreSQL would instead evaluate against every row of the table.

    The tenant is checked on the rows found, as ``customer_id + 0 = ?``: given
    a plain ``customer_id = ?``, a planner without statistics (a new database,
    or one that never ran ANALYZE) picks the (customer, time) index and scans
    the whole tenant once per account, inside the search or around it.
    """
    batch = id_table(connection, ids)
    inner = aliased(model)

    def ordering(entity: Any) -> list[Any]:
        terms = []
        for term in order:
            name, direction = term if isinstance(term, tuple) else (term, "asc")
            column = getattr(entity, name) if not hasattr(entity, "c") else entity.c[name]
            terms.append(column.desc() if direction == "desc" else column)
        return terms

    names = ["customer_id", *columns, *(t[0] if isinstance(t, tuple) else t for t in order)]
    picked = (
        select(inner)
        .where(inner.account_id == batch.c.value, *where(inner))
        .order_by(*ordering(inner))
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        newest = picked.with_only_columns(
            *(getattr(inner, name).label(name) for name in dict.fromkeys(names))
        ).lateral("newest")
        return (
            select(batch.c.value, *(newest.c[name] for name in columns))
            .select_from(batch)
            .join(newest, true())
            .where(newest.c.customer_id + 0 == customer_id)
            .order_by(batch.c.value, *ordering(newest))
        )
    return (
        select(batch.c.value, *(getattr(model, name) for name in columns))
        .select_from(batch)
        .join(model, getattr(model, key).in_(picked.with_only_columns(getattr(inner, key))))
        .where(model.customer_id + 0 == customer_id)
        .order_by(batch.c.value, *ordering(model))
    )


def _condition_fields(condition: Any, found: list[str]) -> bool:
    """Collect the fields a condition reads; False when it is not a well-formed tree."""
    if not isinstance(condition, Mapping):
        return False
    for group in ("all", "any"):
        if group in condition:
            members = condition[group]
            return isinstance(members, list) and all(
                _condition_fields(member, found) for member in members
            )
    if "field" not in condition:
        return not condition  # the empty condition, never met
    found.append(condition["field"])
    return True


def _remembered(conditions: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """``condition_met`` for one trigger, remembered by the values of the fields it reads.

    Many accounts share those values (a count of critical KPIs, a score), and
    evaluating the condition tree converts every operand to a Decimal.
    """
    names: list[str] = []
    if not _condition_fields(conditions, names):
        return lambda values: condition_met(conditions, values)
    seen: dict[Any, bool] = {}
    only = names[0] if len(names) == 1 else None

    def met(values: Mapping[str, Any]) -> bool:
        key: Any
        if only is not None:
            # One field (the usual trigger): its value is the key, a tuple for a list.
            key = values.get(only)
            if isinstance(key, list):
                key = tuple(key)
        else:
            key = tuple(
                tuple(value) if isinstance(value, list) else value
                for value in (values.get(name) for name in names)
            )
        try:
            return seen[key]
        except KeyError:
            seen[key] = result = condition_met(conditions, values)
            return result
        except TypeError:  # an unhashable value (a list of objects)
            return condition_met(conditions, values)

    return met


def _newest_ids(
    connection: Connection,
    *,
    model: Any,
    id_name: str,
    time_name: str,
    customer_id: int,
    account_ids: Sequence[int],
    at: datetime,
    limit: int,
) -> dict[int, list[int]]:
    """The ids of the ``limit`` newest rows of each account at ``at``, newest first."""
    query = newest_per_account(
        connection,
        account_ids,
        model,
        customer_id=customer_id,
        key=id_name,
        columns=[id_name],
        order=[(time_name, "desc"), (id_name, "desc")],
        where=lambda entity: [getattr(entity, time_name) <= at],
        limit=limit,
    )
    found: dict[int, list[int]] = defaultdict(list)
    for account_id, found_id in plain_rows(connection, query):
        found[account_id].append(found_id)
    return found


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return round_score(number) if number.is_finite() and abs(number) < 1000 else None


def _profile_fields(
    account_name: Any,
    revenue: Any,
    industry: Any,
    region: Any,
    account_status: Any,
    external_account_id: Any,
    profile_metadata: Any,
) -> dict[str, Any]:
    meta: Mapping[str, Any] = profile_metadata or {}
    engagement: Mapping[str, Any] = meta.get("engagement") or {}
    champions = meta.get("champions") or []
    first = champions[0] if champions else None
    if isinstance(first, Mapping):
        champion, champion_status = _text(first.get("name")), _text(first.get("status"))
    else:
        champion, champion_status = _text(first), None
    return {
        "account_name": account_name,
        "revenue": revenue,
        "account_status": account_status,
        "industry": industry,
        "region": region,
        "account_tier": _text(meta.get("account_tier")),
        "external_account_id": external_account_id,
        "assigned_csm": _text(meta.get("assigned_csm")),
        "csm_manager": _text(meta.get("csm_manager")),
        "account_owner": _text(meta.get("account_owner")),
        "lifecycle_stage": _text(engagement.get("lifecycle_stage")),
        "onboarding_status": _text(engagement.get("onboarding_status")),
        "last_qbr_date": _date(engagement.get("last_qbr_date")),
        "next_qbr_date": _date(engagement.get("next_qbr_date")),
        "engagement_score": _decimal(engagement.get("score")),
        "primary_champion": champion,
        "champion_status": champion_status,
        "stakeholder_count": len(champions) if isinstance(champions, list) else 0,
        "_declared_products": meta.get("products_used"),
        "_declared_primary": meta.get("primary_product"),
    }


def _products_fields(
    state: dict[str, Any], products: list[tuple[int, str]], kpi_counts: Mapping[int, int]
) -> None:
    declared = state.pop("_declared_products")
    declared_primary = state.pop("_declared_primary")
    if products:
        names = [name for _, name in products]
    elif isinstance(declared, list):
        names = [str(name) for name in declared]
    else:
        names = []
    primary: str | None = None
    if declared_primary in names:
        primary = declared_primary
    elif products and kpi_counts:
        # Most KPIs first, the oldest product on a tie.
        best = min(products, key=lambda p: (-kpi_counts.get(p[0], 0), p[0]))
        primary = best[1]
    elif names:
        primary = names[0]
    state["products_used"] = names
    state["product_count"] = len(names)
    state["primary_product"] = primary


def _kpi_fields(state: dict[str, Any], summary: KpiSummary | None) -> None:
    if summary is None:
        summary = KpiSummary()
    total = summary.total
    state["total_kpis"] = total
    state["account_level_kpis"] = summary.account_level
    state["product_level_kpis"] = total - summary.account_level
    state["critical_kpis_count"], state["at_risk_kpis_count"], state["healthy_kpis_count"] = (
        summary.statuses
    )
    state["top_critical_kpis"] = _top_critical(summary)


def computed_category_scores(summary: Any) -> dict[str, Decimal | None]:
    """Category scores from a KPI summary row (weighted mean of status points)."""
    scores: dict[str, Decimal | None] = {}
    for i, category in enumerate(CATEGORIES):
        weighted = getattr(summary, f"wp{i}", None) if summary is not None else None
        weight = getattr(summary, f"w{i}", None) if summary is not None else None
        if weighted is None or weight is None or Decimal(weight) == 0:
            scores[category] = None
        else:
            scores[category] = round_score(Decimal(weighted) / Decimal(weight))
    return scores


class _HealthScores:
    """Category and overall scores from KPI sums, each distinct input computed once.

    Accounts share a handful of KPI weights and grades, so the same sums recur
    across a batch, and each score is a Decimal division and rounding.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        # As overall_score converts them (through their text), once instead of per account.
        self.weights = {category: Decimal(str(weight)) for category, weight in weights.items()}
        self._categories: dict[tuple[Any, Any], Decimal] = {}
        self._overall: dict[tuple[Decimal | None, ...], Decimal | None] = {}

    def category(self, weighted: Any, weight: Any) -> Decimal:
        """The weighted mean of status points: ``weighted / weight``, rounded."""
        key = (weighted, weight)
        score = self._categories.get(key)
        if score is None:
            score = self._categories[key] = round_score(Decimal(weighted) / Decimal(weight))
        return score

    def overall(self, scores: tuple[Decimal | None, ...]) -> Decimal | None:
        """The overall score of category scores given in ``CATEGORIES`` order."""
        try:
            return self._overall[scores]
        except KeyError:
            result = overall_score(dict(zip(CATEGORIES, scores, strict=True)), self.weights)
            self._overall[scores] = result
            return result


_NO_SCORES: tuple[Decimal | None, ...] = (None,) * len(CATEGORIES)


def _category_scores(summary: KpiSummary | None, scores: _HealthScores) -> tuple[Any, ...]:
    if summary is None:
        return _NO_SCORES
    return tuple(
        scores.category(weighted, weight) if weight else None
        for weighted, weight in zip(summary.weighted, summary.weights, strict=True)
    )


_SCORE_FIELDS = tuple(CATEGORY_FIELDS[category] for category in CATEGORIES)


def _health_fields(
    state: dict[str, Any], trend: Any, summary: KpiSummary | None, scores: _HealthScores
) -> None:
    if trend is not None:
        state["overall_health_score"] = trend.overall_health_score
        for field_name in CATEGORY_FIELDS.values():
            state[field_name] = getattr(trend, field_name)
        return
    category_scores = _category_scores(summary, scores)
    for field_name, score in zip(_SCORE_FIELDS, category_scores, strict=True):
        state[field_name] = score
    state["overall_health_score"] = scores.overall(category_scores)


def _playbook_fields(state: dict[str, Any], executions: list[Any], at: datetime) -> None:
    """Running and completed playbooks from (playbook, status, started, completed) rows."""
    window_start = at - timedelta(days=30)
    running: list[str] = []
    completed = 0
    completed_recent = 0
    last: Any = None
    last_started: Any = None
    for playbook_id, status, started_at, completed_at in executions:
        if status == "completed" and (completed_at is None or completed_at <= at):
            completed += 1
            if completed_at is not None and completed_at > window_start:
                completed_recent += 1
        elif status != "cancelled":
            running.append(playbook_id)
        if last is None or started_at >= last_started:
            last, last_started = playbook_id, started_at
    state["playbooks_running"] = running
    state["playbooks_running_count"] = len(running)
    state["playbooks_completed_count"] = completed
    state["playbooks_completed_last_30_days"] = completed_recent
    state["last_playbook_executed"] = (
        None if last is None else {"playbook_id": last, "date": last_started.date().isoformat()}
    )
