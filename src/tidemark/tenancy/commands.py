"""`tidemark customers ...`: create and list tenants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy import func, select

from tidemark.console import JsonOption, new_table, open_engine, out, print_json, show, show_time
from tidemark.db.engine import unit_of_work
from tidemark.success.models import Account
from tidemark.tenancy import service
from tidemark.tenancy.models import User

customers_app = typer.Typer(
    name="customers", help="Create and list customers (tenants).", no_args_is_help=True
)


@customers_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The customer's name, unique.")],
    email: Annotated[str | None, typer.Option(help="Contact email.")] = None,
) -> None:
    """Create a customer (tenant) with the default KPI reference ranges.

    Example: tidemark customers create "Test Company" --email ops@example.com
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        customer = service.create(session, name=name, email=email)
        out.print(
            f"Created customer {customer.customer_id} [bold]{escape(customer.customer_name)}[/bold]"
        )


@customers_app.command("list")
def list_customers(as_json: JsonOption = False) -> None:
    """List every customer with its number of users and accounts.

    Example: tidemark customers list --json
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        customers = service.list_all(session)
        accounts = dict(
            session.execute(
                select(Account.customer_id, func.count()).group_by(Account.customer_id)
            ).all()
        )
        users = dict(
            session.execute(select(User.customer_id, func.count()).group_by(User.customer_id)).all()
        )
        rows = [
            {
                "customer_id": c.customer_id,
                "customer_name": c.customer_name,
                "email": c.email,
                "timezone": c.timezone,
                "users": users.get(c.customer_id, 0),
                "accounts": accounts.get(c.customer_id, 0),
                "created_at": c.created_at,
            }
            for c in customers
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No customers yet. Create one with `tidemark customers create NAME`.")
        return
    table = new_table("ID", "Name", "Email", "Users", "Accounts", "Created (UTC)")
    for c in customers:
        table.add_row(
            str(c.customer_id),
            show(c.customer_name),
            show(c.email),
            str(users.get(c.customer_id, 0)),
            str(accounts.get(c.customer_id, 0)),
            show_time(c.created_at),
        )
    out.print(table)
