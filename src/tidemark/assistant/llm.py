"""A language model as the assistant's router and writer, through tool calls.

With ``TIDEMARK_LLM_BASE_URL`` and ``TIDEMARK_LLM_MODEL`` set, a question goes
to an OpenAI-compatible chat endpoint together with the look-ups as tools. The
model picks the look-ups and their arguments; Tidemark runs them (tenant-scoped,
in the request's transaction) and hands back their JSON; the model words the
answer. Before the answer is returned, every number in it is checked against
the numbers the look-ups returned (and the question's own). An answer with a
number from nowhere is set aside for the offline answer: the model may word,
never invent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from openai import OpenAI, OpenAIError
from openai.types.chat import ChatCompletionMessageFunctionToolCall
from sqlalchemy.orm import Session

from tidemark.assistant import answers, lookups, search
from tidemark.assistant.context import SYSTEM_PROMPT
from tidemark.assistant.parsing import match_account
from tidemark.assistant.plan import Condition, Direction, LookupResult, NoHistory, Plan
from tidemark.assistant.service import OfflineAnswerer, tenant_accounts, tenant_timezone
from tidemark.errors import InvalidInput, NotFound
from tidemark.settings import Settings

log = logging.getLogger(__name__)

#: Rounds of tool calls before the model must answer.
MAX_ROUNDS = 4

_ACCOUNT = {"type": "string", "description": "The account's name as the user wrote it."}
_FIELD = {
    "type": "string",
    "description": "A snapshot field: overall_health_score, revenue, account_status, "
    "assigned_csm, critical_kpis_count, engagement_score, a category score, ...",
}
_DATE = {"type": "string", "description": "An ISO date (YYYY-MM-DD) or datetime."}


def _tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


TOOLS: list[dict[str, Any]] = [
    _tool(
        "value_as_of",
        "The value of a field of one account as of a date (its last snapshot at or before).",
        {"account": _ACCOUNT, "field": _FIELD, "date": _DATE},
        ["account", "field"],
    ),
    _tool(
        "change_over",
        "How a field of one account changed between two dates: before, after, delta, percent.",
        {"account": _ACCOUNT, "field": _FIELD, "start": _DATE, "end": _DATE},
        ["account", "field", "start"],
    ),
    _tool(
        "field_history",
        "Every snapshot value of a field of one account between two dates.",
        {"account": _ACCOUNT, "field": _FIELD, "start": _DATE, "end": _DATE},
        ["account", "field"],
    ),
    _tool(
        "ranked_changes",
        "Accounts ranked by how much a field changed between two dates.",
        {
            "field": _FIELD,
            "start": _DATE,
            "end": _DATE,
            "direction": {"type": "string", "enum": ["improved", "declined", "any"]},
            "limit": {"type": "integer", "minimum": 1},
        },
        ["field", "start"],
    ),
    _tool(
        "accounts_matching",
        "Accounts whose snapshot fields meet every condition, now or as of a date.",
        {
            "conditions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": _FIELD,
                        "op": {"type": "string", "enum": ["<", "<=", ">", ">=", "=", "!="]},
                        "value": {"type": ["string", "number"]},
                    },
                    "required": ["field", "op", "value"],
                },
            },
            "date": _DATE,
        },
        ["conditions"],
    ),
    _tool(
        "assignments",
        "An account's CSM, manager, owner, products and running playbooks.",
        {"account": _ACCOUNT},
        ["account"],
    ),
    _tool(
        "search_notes",
        "CSM notes and playbook reports matching words (any language), optionally of one "
        "account and between two dates.",
        {"text": {"type": "string"}, "account": _ACCOUNT, "start": _DATE, "end": _DATE},
        ["text"],
    ),
]

GUIDANCE = """
Answer questions about the tenant's accounts only from the tools' results. Call a tool for
every figure you state; never estimate or recall a number. Give dates as YYYY-MM-DD and say
which snapshot dates the figures come from. If the tools return an error or nothing, say
plainly that the history does not answer the question.
""".strip()


@dataclass(frozen=True, slots=True)
class ToolContext:
    session: Session
    customer_id: int
    now: datetime
    zone: ZoneInfo
    accounts: list[tuple[int, str]]


def _moment(text: Any, context: ToolContext, *, default: datetime | None) -> datetime | None:
    """An ISO date (the end of that local day) or datetime, as aware UTC."""
    if text in (None, ""):
        return default
    value = str(text).strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            local = datetime.combine(day, time.max, tzinfo=context.zone)
            return local.astimezone(ZoneInfo("UTC"))
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("date", f"{value!r} is not an ISO date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=context.zone)
    return moment.astimezone(ZoneInfo("UTC"))


def _account_id(mention: Any, context: ToolContext) -> int:
    found = match_account(str(mention or ""), context.accounts)
    if found is None:
        raise NotFound("account", str(mention))
    return found.account_id


def _start(arguments: dict[str, Any], context: ToolContext) -> datetime | None:
    return _moment(arguments.get("start"), context, default=None)


def _end(arguments: dict[str, Any], context: ToolContext) -> datetime:
    end = _moment(arguments.get("end") or arguments.get("date"), context, default=context.now)
    assert end is not None
    return end


def _call(name: str, arguments: dict[str, Any], context: ToolContext) -> list[LookupResult]:
    """Run one tool call as the tenant's look-up(s)."""
    session, customer_id = context.session, context.customer_id
    if name == "value_as_of":
        return [
            lookups.value_as_of(
                session,
                customer_id=customer_id,
                account_id=_account_id(arguments.get("account"), context),
                field=str(arguments.get("field")),
                at=_end(arguments, context),
            )
        ]
    if name in ("change_over", "field_history"):
        runner: Callable[..., LookupResult] = (
            lookups.change_over if name == "change_over" else lookups.field_history
        )
        return [
            runner(
                session,
                customer_id=customer_id,
                account_id=_account_id(arguments.get("account"), context),
                field=str(arguments.get("field")),
                start=_start(arguments, context),
                end=_end(arguments, context),
            )
        ]
    if name == "ranked_changes":
        limit = arguments.get("limit")
        return [
            lookups.ranked_changes(
                session,
                customer_id=customer_id,
                field=str(arguments.get("field")),
                start=_start(arguments, context),
                end=_end(arguments, context),
                direction=Direction(arguments.get("direction") or "any"),
                limit=int(limit) if limit is not None else None,
            )
        ]
    if name == "accounts_matching":
        conditions = [
            Condition(
                str(c.get("field")),
                str(c.get("op")),
                Decimal(str(c["value"]))
                if isinstance(c.get("value"), int | float)
                else str(c.get("value")),
            )
            for c in arguments.get("conditions") or []
        ]
        at = _moment(arguments.get("date"), context, default=None)
        return [
            lookups.accounts_matching(
                session, customer_id=customer_id, conditions=conditions, at=at
            )
        ]
    if name == "assignments":
        return [
            lookups.assignments(
                session,
                customer_id=customer_id,
                account_id=_account_id(arguments.get("account"), context),
            )
        ]
    if name == "search_notes":
        account = arguments.get("account")
        account_id = _account_id(account, context) if account else None
        return [
            finder(
                session,
                customer_id=customer_id,
                text=str(arguments.get("text") or ""),
                account_id=account_id,
                start=_start(arguments, context),
                end=_moment(arguments.get("end"), context, default=None),
            )
            for finder in (search.search_notes, search.search_reports)
        ]
    raise InvalidInput("tool", f"unknown tool {name!r}")


_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def _normal(text: str) -> str | None:
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    normal = number.normalize()
    return f"{normal:f}" if normal != 0 else "0"


def numbers_in(value: Any) -> set[str]:
    """Every number in a JSON-ready value (numbers, and numbers inside strings and dates)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, bool) or item is None:
            return
        if isinstance(item, int | float | Decimal):
            normal = _normal(str(item))
            if normal is not None:
                found.add(normal)
                found.add(_normal(str(abs(Decimal(str(item))))) or "")
        elif isinstance(item, str):
            for match in _NUMBER.findall(item):
                normal = _normal(match)
                if normal is not None:
                    found.add(normal)
                    found.add(normal.lstrip("-"))
            for part in re.findall(r"\d+", item):
                found.add(str(int(part)))
        elif isinstance(item, dict):
            for key, sub in item.items():
                walk(key)
                walk(sub)
        elif isinstance(item, list | tuple | set):
            for sub in item:
                walk(sub)

    walk(value)
    return found


def ungrounded_numbers(text: str, results: Iterable[LookupResult], question: str) -> list[str]:
    """Numbers in ``text`` that neither the look-ups nor the question contain."""
    allowed = numbers_in(question)
    for result in results:
        allowed |= numbers_in(answers.jsonable(result.value))
        allowed |= numbers_in(result.arguments)
        allowed |= {str(i) for i in (*result.snapshot_ids, *result.note_ids, *result.report_ids)}
    missing = []
    for match in _NUMBER.findall(text):
        normal = _normal(match)
        if normal is not None and normal not in allowed and normal.lstrip("-") not in allowed:
            missing.append(match)
    return missing


class LlmAnswerer:
    """Routes the question to the look-ups through the model's tool calls; words the answer."""

    name = "llm"

    def __init__(self, client: OpenAI, *, model: str, max_rounds: int = MAX_ROUNDS) -> None:
        self.client = client
        self.model = model
        self.max_rounds = max_rounds

    def answer(
        self, session: Session, *, customer_id: int, question: str, plan: Plan, now: datetime
    ) -> tuple[str, list[LookupResult], bool]:
        zone = ZoneInfo(tenant_timezone(session, customer_id))
        context = ToolContext(
            session, customer_id, now, zone, tenant_accounts(session, customer_id)
        )
        today = now.astimezone(zone)
        messages: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": f"{SYSTEM_PROMPT}\n\n{GUIDANCE}\n\nToday is "
                f"{today.date().isoformat()} ({zone.key}).",
            },
            {"role": "user", "content": question},
        ]
        results: list[LookupResult] = []
        try:
            for _ in range(self.max_rounds + 1):
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    tools=TOOLS,  # type: ignore[arg-type]
                    temperature=0,
                )
                message = response.choices[0].message
                calls = [
                    call
                    for call in message.tool_calls or []
                    if isinstance(call, ChatCompletionMessageFunctionToolCall)
                ]
                if not calls:
                    return self._checked(message.content or "", results, question, plan, context)
                messages.append(
                    {
                        "role": "assistant",
                        "content": message.content or "",
                        "tool_calls": [
                            {
                                "id": call.id,
                                "type": "function",
                                "function": {
                                    "name": call.function.name,
                                    "arguments": call.function.arguments,
                                },
                            }
                            for call in calls
                        ],
                    }
                )
                for call in calls:
                    content = self._run(
                        call.function.name, call.function.arguments, context, results
                    )
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        except OpenAIError as error:
            log.warning("The model endpoint failed (%s); answering offline", error)
            return self._offline(session, customer_id, question, plan, now)
        log.warning(
            "The model made more than %d rounds of tool calls; answering offline", self.max_rounds
        )
        return self._offline(session, customer_id, question, plan, now)

    def _run(self, name: str, raw: str, context: ToolContext, results: list[LookupResult]) -> str:
        try:
            arguments = json.loads(raw or "{}")
            if not isinstance(arguments, dict):
                raise InvalidInput("arguments", "must be a JSON object")
            found = _call(name, arguments, context)
        except (NoHistory, NotFound, InvalidInput, ValueError) as error:
            return json.dumps({"error": str(error)}, ensure_ascii=False)
        results.extend(found)
        return json.dumps(
            [
                {
                    "lookup": r.lookup,
                    "value": answers.jsonable(r.value),
                    "snapshot_ids": r.snapshot_ids,
                    "note_ids": r.note_ids,
                    "report_ids": r.report_ids,
                }
                for r in found
            ],
            ensure_ascii=False,
        )

    def _checked(
        self,
        text: str,
        results: list[LookupResult],
        question: str,
        plan: Plan,
        context: ToolContext,
    ) -> tuple[str, list[LookupResult], bool]:
        invented = ungrounded_numbers(text, results, question)
        if invented or not text.strip():
            log.warning("Set aside the model's answer: numbers %s come from no look-up", invented)
            return self._offline(context.session, context.customer_id, question, plan, context.now)
        return text.strip(), results, bool(results)

    @staticmethod
    def _offline(
        session: Session, customer_id: int, question: str, plan: Plan, now: datetime
    ) -> tuple[str, list[LookupResult], bool]:
        return OfflineAnswerer().answer(
            session, customer_id=customer_id, question=question, plan=plan, now=now
        )


def answerer_from_settings(settings: Settings) -> LlmAnswerer | None:
    """The model answerer when an endpoint and model are configured, else None (offline)."""
    if not settings.llm_base_url or not settings.llm_model:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    client = OpenAI(
        base_url=settings.llm_base_url,
        api_key=key,
        timeout=settings.llm_timeout_seconds,
        max_retries=1,
    )
    return LlmAnswerer(client, model=settings.llm_model)
