"""The API's input models (pydantic v2): what a client may send, validated before anything happens.

Unknown fields are refused (``extra="forbid"``): a misspelt ``instanceType`` must be a 422 naming
the field, not a request decided on defaults. Limits on sizes keep one request from being a
denial of service.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from gatekeeper.model import AttachedAccelerator, ComputeItem, ProvisioningRequest

MAX_ITEMS = 100
Text = Annotated[str, Field(max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Attached(_Body):
    """An accelerator attached apart from the machine type (GCP guestAccelerators)."""

    type: Annotated[str, Field(min_length=1, max_length=128, examples=["nvidia-tesla-a100"])]
    count: Annotated[float, Field(gt=0, le=1_000_000)] = 1

    def model(self) -> AttachedAccelerator:
        return AttachedAccelerator(self.type, self.count)


class Item(_Body):
    """One instance type x count (the full request form)."""

    instance_type: Annotated[str, Field(min_length=1, max_length=128, examples=["p5.48xlarge"])]
    count: Annotated[int, Field(ge=0, le=1_000_000)] = 1
    attached: Annotated[list[Attached], Field(max_length=16)] = []
    choice: Text = ""
    path: Text = ""

    def model(self) -> ComputeItem:
        return ComputeItem(self.instance_type, self.count, tuple(a.model() for a in self.attached),
                           self.choice, self.path)


class DecisionBody(_Body):
    """A provisioning request to decide: the short form (``instance_type``/``count``/``attached``) or
    the full form (``items``), not both."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"provider": "aws", "account_id": "222222222222", "instance_type": "p4d.24xlarge", "count": 1,
         "region": "ap-southeast-1"},
    ]})

    provider: Literal["aws", "azure", "gcp"]
    account_id: Annotated[str, Field(min_length=1, max_length=128)]
    # The full form comes first so that the short form's validators can see whether it was given.
    items: Annotated[list[Item] | None, Field(min_length=1, max_length=MAX_ITEMS)] = None
    instance_type: Annotated[str | None, Field(min_length=1, max_length=128, validate_default=True)] = None
    count: Annotated[int | None, Field(ge=0, le=1_000_000)] = None
    attached: Annotated[list[Attached] | None, Field(max_length=16)] = None
    region: Text = ""
    # Who asked is the token's identity, never a field: a requester must not be able to open a case as
    # someone else (separation of duties compares the identities behind the tokens). ``principal`` is
    # refused with a message saying so; ``on_behalf_of`` is recorded beside the token's identity.
    principal: Annotated[str | None, Field(max_length=256, json_schema_extra={"deprecated": True},
                                           description="Refused: the principal is the token's identity. "
                                                       "Use on_behalf_of.")] = None
    on_behalf_of: Annotated[str, Field(max_length=256, description=(
        "Whom the caller asks for (a person or system behind a shared service token); recorded beside "
        "the token's identity, never instead of it."))] = ""
    service: Annotated[str, Field(max_length=64)] = ""
    operation: Annotated[str, Field(max_length=128)] = ""
    resource_ids: Annotated[list[Text], Field(max_length=MAX_ITEMS)] = []
    dry_run: bool = False

    @field_validator("provider", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    # Field validators rather than one model validator: the 422 then names the field (loc).
    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, v: str | None, info: ValidationInfo) -> str | None:
        if "items" not in info.data:  # items was given and is invalid: that error is the one to report
            return v
        full = info.data["items"] is not None
        if v is None and not full:
            raise ValueError("instance_type is required (or the full form: items)")
        if v is not None and full:
            raise ValueError("give either instance_type or items, not both")
        return v

    @field_validator("principal")
    @classmethod
    def _no_principal(cls, v: str | None) -> None:
        if v is not None:
            raise ValueError("the principal is the identity of the bearer token and cannot be set in the body; "
                             "to name whom you ask for, use on_behalf_of")
        return None

    @field_validator("count", "attached")
    @classmethod
    def _short_only(cls, v: Any, info: ValidationInfo) -> Any:
        if v is not None and info.data.get("items") is not None:
            raise ValueError(f"{info.field_name} belongs to the short form; with items, give it per item")
        return v

    def compute_items(self) -> tuple[ComputeItem, ...]:
        if self.items is not None:
            return tuple(i.model() for i in self.items)
        assert self.instance_type is not None  # _instance_type
        attached = tuple(a.model() for a in self.attached or ())
        return (ComputeItem(self.instance_type, 1 if self.count is None else self.count, attached),)

    def request(self, principal: str) -> ProvisioningRequest:
        """The request as ``principal`` (the token's identity) asks it."""
        return ProvisioningRequest(
            provider=self.provider, account_id=self.account_id, items=self.compute_items(), region=self.region,
            service=self.service or "api", operation=self.operation or "decide",
            principal=principal, on_behalf_of=self.on_behalf_of, source="api",
            resource_ids=tuple(self.resource_ids),
        )


class ApproveBody(_Body):
    """A reviewer's approval: the licence it issues. ``quantity`` defaults to what the case asks for."""

    licence: Annotated[str, Field(min_length=1, max_length=64, examples=["D1234567"])]
    expires: date
    quantity: Annotated[float | None, Field(gt=0, le=1_000_000_000)] = None
    conditions: Annotated[str, Field(max_length=2000)] = ""
    regions: Annotated[list[Text], Field(max_length=64)] = []
    # An individual licence, or licence exception NAC (``licence`` is BIS's authorization number;
    # ``notified`` the day the notification was filed) or ACA.
    permit: Literal["licence", "NAC", "ACA"] = "licence"
    notified: date | None = None


class DenyBody(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class RevokeBody(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ClearHitBody(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
