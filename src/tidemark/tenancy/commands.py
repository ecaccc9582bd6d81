"""`tidemark customers ...` and `tidemark keys ...`: tenants and their API keys."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy import func, select

from tidemark.console import (
    CustomerOption,
    JsonOption,
    new_table,
    now,
    open_engine,
    out,
    print_json,
    resolve_customer,
    show,
    show_time,
)
from tidemark.db.engine import unit_of_work
from tidemark.success.models import Account
from tidemark.tenancy import keys, service
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
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
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


keys_app = typer.Typer(name="keys", help="Create, list and revoke API keys.", no_args_is_help=True)


@keys_app.command("create")
def create_key(
    customer: CustomerOption = None,
    role: Annotated[str, typer.Option(help="viewer, csm or admin.")] = "viewer",
    user: Annotated[
        str | None, typer.Option(help="Email of the key's user (default: the oldest user).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label to recognise the key by.")] = None,
) -> None:
    """Create an API key and print it once; only its hash is stored.

    Example: tidemark keys create --customer "Test Company" --role csm --name "CS dashboard"
    """
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        key, text = keys.create(
            session,
            customer_id=tenant.customer_id,
            role=role,
            now=now(),
            user_email=user,
            name=name,
        )
        out.print(f"Created {key.role} key {key.key_id} for {escape(tenant.customer_name)}.")
        out.print("Store it now; it is not shown again:")
        out.print(text, markup=False, soft_wrap=True)


@keys_app.command("list")
def list_api_keys(customer: CustomerOption = None, as_json: JsonOption = False) -> None:
    """List the tenant's API keys (never their secrets).

    Example: tidemark keys list --customer "Test Company"
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        rows: list[dict[str, Any]] = [
            {
                "key_id": k.key_id,
                "name": k.name,
                "role": k.role,
                "prefix": k.prefix,
                "user_id": k.user_id,
                "created_at": k.created_at,
                "last_used_at": k.last_used_at,
                "revoked_at": k.revoked_at,
            }
            for k in keys.list_keys(session, customer_id=tenant.customer_id)
        ]
    if as_json:
        print_json(rows)
        return
    table = new_table("ID", "Name", "Role", "Prefix", "Created (UTC)", "Revoked (UTC)")
    for r in rows:
        table.add_row(
            str(r["key_id"]),
            show(r["name"]),
            r["role"],
            r["prefix"],
            show_time(r["created_at"]),
            show_time(r["revoked_at"]),
        )
    out.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `tidemark keys list`).")],
    customer: CustomerOption = None,
) -> None:
    """Revoke an API key; requests with it are refused from now on.

    Example: tidemark keys revoke 3 --customer "Test Company"
    """
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        key = keys.revoke(session, customer_id=tenant.customer_id, key_id=key_id, now=now())
        out.print(f"Revoked key {key.key_id} ({key.role}).")
