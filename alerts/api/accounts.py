"""Accounts, for operators: list, create (linked to a registry person), disable, set a new password. The same
rules as `cwatch accounts`: the password rule of `alerts.accounts.MIN_PASSWORD`, a scope at a level the role
answers for, a person's own role and scope; every change is in the audit log with the operator and address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from alerts.accounts import check_password, check_scope
from alerts.api.deps import Api, client_address, requires
from alerts.api.errors import error_responses
from alerts.api.models import AccountOut, Id, OkOut
from alerts.api.views import account_out
from alerts.audit import Who
from alerts.errors import NotFoundError, ValidationError
from alerts.model import Account
from core.i18n import tr
from devices.model import Level, Person, Role

router = APIRouter(tags=["accounts"])
Operator = Annotated[Account, Depends(requires(Role.OPERATOR))]


class AccountListOut(AccountOut):
    disabled: bool


class AccountCreateBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(max_length=256, description="at least 12 characters")
    person_id: str | None = Field(default=None, max_length=64, description="the registry person it is")
    role: Role | None = Field(default=None, description="default: the person's role")
    scope_id: str | None = Field(default=None, max_length=64, description="default: the person's scope")
    display_name: str | None = Field(default=None, max_length=128, description="default: the person's name")


class PasswordBody(BaseModel):
    password: str = Field(max_length=256, description="at least 12 characters")


def _level(hierarchy: object, node_id: str) -> Level | None:
    level_of = getattr(hierarchy, "level_of", None)
    found = level_of(node_id) if callable(level_of) else None
    return found if isinstance(found, Level) else None


@router.get("/accounts", responses=error_responses(401, 403))
async def list_accounts(api: Api, _viewer: Operator) -> list[AccountListOut]:
    """Every account, disabled ones included."""
    return [
        AccountListOut(**account_out(a).model_dump(), disabled=a.disabled) for a in await api.accounts.list_accounts()
    ]


@router.post("/accounts", status_code=201, responses=error_responses(401, 403, 409))
async def create_account(body: AccountCreateBody, request: Request, api: Api, viewer: Operator) -> AccountOut:
    """A new account; with `person_id` it takes the person's role, scope and name (given ones must agree)."""
    check_password(body.password)
    person = None
    if body.person_id is not None:
        people = getattr(api.registry(), "people", None)
        found = people.get(body.person_id) if isinstance(people, Mapping) else None
        if not isinstance(found, Person):
            raise ValidationError(tr("errors.person_unknown", person=body.person_id))
        person = found
    role = body.role or (person.role if person else None)
    scope = body.scope_id or (person.scope_id if person else None)
    if role is None or scope is None:
        raise ValidationError(tr("errors.role_and_scope_needed"))
    if person is not None and (person.role, person.scope_id) != (role, scope):
        raise ValidationError(
            tr(
                "errors.person_role_differs",
                person=person.id,
                role=tr(f"names.role.{person.role.value}"),
                scope=person.scope_id,
            )
        )
    check_scope(role, scope, _level(api.registry(), scope))
    name = body.display_name or (person.name if person else body.username)
    created = await api.accounts.create_account(
        body.username, body.password, role, scope, name, body.person_id, by=Who.account(viewer, client_address(request))
    )
    return account_out(created)


async def _existing(api: Api, account_id: int) -> None:
    if await api.accounts.get(account_id) is None:
        raise NotFoundError(tr("errors.account_not_found", id=account_id))


@router.post("/accounts/{account_id}/disable", responses=error_responses(401, 403, 404))
async def disable_account(account_id: Id, request: Request, api: Api, viewer: Operator) -> OkOut:
    """Disable the account and end its sessions."""
    await _existing(api, account_id)
    await api.accounts.disable(account_id, by=Who.account(viewer, client_address(request)))
    return OkOut(ok=True)


@router.post("/accounts/{account_id}/password", responses=error_responses(401, 403, 404))
async def reset_password(account_id: Id, body: PasswordBody, request: Request, api: Api, viewer: Operator) -> OkOut:
    """Set a new password and end the account's sessions."""
    await _existing(api, account_id)
    await api.accounts.set_password(account_id, body.password, by=Who.account(viewer, client_address(request)))
    return OkOut(ok=True)
