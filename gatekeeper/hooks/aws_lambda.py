"""The AWS Lambda detective hook: EventBridge events of provisioning calls -> decide -> put right.

One function for every policy (the packs are compiled once per container, by the process-wide
runtime), subscribed by deploy/aws/template.yaml to two kinds of EventBridge events:

- ``AWS API Call via CloudTrail`` for every operation of the AWS spec (:data:`gatekeeper.providers.aws.SPEC`:
  RunInstances, StartInstances, fleets, Auto Scaling, SageMaker, EKS, Batch, EMR, ECS ...):
  the record is translated into a ProvisioningRequest (``source="lambda"``) whose ``resource_ids`` are
  what the call created;
- ``EC2 Instance State-change Notification`` (``pending``/``running``): the instance's type is read with
  DescribeInstances; this catches instances started again after the hook stopped them, and launches by
  services whose CloudTrail records the hook does not cover.

The subject is the account the event happened in (``account``; ``detail.recipientAccountId``), or,
through ``[hooks] account_map``, the customer an account is run for. The principal is
``detail.userIdentity.arn``. Remediation follows the decision and ``[hooks]`` (remediation.py), and is
idempotent under EventBridge's at-least-once delivery (_core.py, stores/events.py).

Cold start: this module imports no SDK; boto3 is imported on the first event that needs a client.

Lambda configuration: ``GATEKEEPER_CONFIG`` (a TOML file in the package) or ``GATEKEEPER_CONFIG_TOML``
(the TOML text itself, as the deploy template sets it), written to ``/tmp/gatekeeper/`` on the first
invocation so that relative paths (audit spool) resolve to a writable place.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from gatekeeper import _prebuilt

# Before the first dataclass below is created (function hosts with a built bundle only): see
# gatekeeper/_dataclass_code.py.
_prebuilt.install_dataclass_code()

from gatekeeper.errors import InvalidInputError, ResolutionError  # noqa: E402
from gatekeeper.hooks import _core, emf  # noqa: E402
from gatekeeper.hooks.cloudtrail import Reader, operation, translate  # noqa: E402
from gatekeeper.hooks.remediation import Action, Resource  # noqa: E402
from gatekeeper.model import ComputeItem, ProvisioningRequest  # noqa: E402
from gatekeeper.providers import _paths as P  # noqa: E402
from gatekeeper.providers._spec import Operation  # noqa: E402
from gatekeeper.providers.aws import EVENT_MODE  # noqa: E402

HOOK = "aws-lambda"
CLOUDTRAIL = "AWS API Call via CloudTrail"
STATE_CHANGE = "EC2 Instance State-change Notification"
STATE_CHANGE_STATES = ("pending", "running")
# An instance in one of these states now is being (or was) put right already.
_AT_REST = ("stopping", "stopped", "shutting-down", "terminated")
_ACCOUNT = re.compile(r"^\d{12}$")


def _is_mapping(v: Any) -> bool:
    return isinstance(v, Mapping)


class AwsHook(_core.EventHook):
    """Handles one EventBridge event at a time; thread-safe; one per container is the norm.

    ``gk`` defaults to the process-wide runtime (``gatekeeper.runtime.current()``); ``clients`` to
    boto3 clients per (service, region); ``reader`` to Describe calls through those clients.
    """

    hook = HOOK

    def __init__(self, gk: Any = None, *, clients: Any = None, reader: Reader | None = None,
                 markers: Any = None, dry_run: bool = False) -> None:
        super().__init__(gk, markers=markers, dry_run=dry_run)
        self._clients = clients
        self._reader = reader

    # -- lazily made parts (no boto3 until an event needs it) ----------------------------------
    @property
    def clients(self) -> Any:
        if self._clients is None:
            from gatekeeper.hooks._aws import Clients

            self._clients = Clients(role=self.gk.config.hooks.aws_role)
        return self._clients

    def _scope(self, account: str) -> tuple[Reader, Any]:
        """The reader and executor acting in ``account`` (through ``[hooks] aws_role`` when set)."""
        if self._reader is not None and self.dry_run:
            return self._reader, None
        from gatekeeper.hooks._aws import BotoReader, execute

        clients = self.clients
        factory = clients.bind(account) if hasattr(clients, "bind") else clients
        reader = self._reader if self._reader is not None else BotoReader(factory)
        return reader, lambda action: execute(factory, action)

    # -- the event -------------------------------------------------------------------------------
    def handle(self, event: Any) -> dict[str, Any]:
        run = self.new_run(_no_execute)
        if not _is_mapping(event):
            return run.malformed(_core.event_digest(event), InvalidInputError("the event is not a JSON object"), {})
        event_id = event.get("id")
        context = {"detail_type": str(event.get("detail-type", "")), "source": str(event.get("source", ""))}
        if not isinstance(event_id, str) or not event_id.strip():
            return run.malformed(_core.event_digest(event),
                                 InvalidInputError("the event has no id (not an EventBridge event?)"), context)
        event_id = event_id.strip()
        try:
            pre = self._precheck(event)
        except InvalidInputError as exc:
            return run.run(event_id, _raise(exc), context)
        if pre is not None:
            return pre | {"event_id": event_id}
        detail = event["detail"]
        reader, execute = self._scope(resource_account(event))
        run.execute = execute
        if event["detail-type"] == CLOUDTRAIL:
            op = operation(detail["eventSource"], detail["eventName"])
            assert op is not None  # checked by _precheck
            context |= {"event_name": op.name, "event_time": str(detail.get("eventTime", ""))}
            return run.run(event_id, lambda: self._prepare_call(event, op, reader), context)
        context |= {"event_name": "StateChange", "event_time": str(event.get("time", ""))}
        return run.run(event_id, lambda: self._prepare_state_change(event, reader), context)

    def _precheck(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """An answer for events to leave alone (nothing claimed or recorded); None to go on."""
        kind = event.get("detail-type")
        detail = event.get("detail")
        if kind not in (CLOUDTRAIL, STATE_CHANGE):
            return _core.answer(_core.IGNORED, "", f"detail-type {kind!r} is not handled")
        if not isinstance(detail, Mapping):
            raise InvalidInputError("the event's detail is not an object", field="detail")
        if kind == STATE_CHANGE:
            state = detail.get("state")
            if not isinstance(detail.get("instance-id"), str) or not isinstance(state, str):
                raise InvalidInputError("a state-change event needs detail.instance-id and detail.state",
                                        field="detail")
            if state not in STATE_CHANGE_STATES:
                return _core.answer(_core.IGNORED, "", f"instance state {state!r} starts nothing")
            return None
        if detail.get("errorCode"):
            return _core.answer(_core.SKIPPED, "", f"the call failed ({detail.get('errorCode')}): nothing provisioned")
        source, name = detail.get("eventSource"), detail.get("eventName")
        if not isinstance(source, str) or not isinstance(name, str):
            raise InvalidInputError("a CloudTrail event needs detail.eventSource and detail.eventName", field="detail")
        if operation(source, name) is None:
            return _core.answer(_core.IGNORED, "", f"{source} {name} is not a provisioning call gatekeeper covers")
        principal = principal_of(detail)
        if self._ignored_principal(principal):
            return _core.answer(_core.IGNORED, "", f"made by {principal}, whose changes the hook ignores")
        return None

    def _ignored_principal(self, principal: str) -> bool:
        # Only exact principals from the configuration: a pattern (a session name) could be chosen by
        # whoever wants to slip past. The hook's own calls need no exemption on AWS: none of them is a
        # covered call that provisions (its UpdateAutoScalingGroup scales to zero and is ignored).
        return bool(principal) and principal in self.gk.config.hooks.ignore_principals

    def subject(self, event: Mapping[str, Any]) -> str:
        """The customer account: the event's account, or the one ``[hooks] account_map`` maps it to."""
        account = resource_account(event)
        if not _ACCOUNT.match(account):
            raise InvalidInputError(f"the event names no 12-digit account (account = {account!r})", field="account")
        return str(self.gk.config.hooks.account_map.get(account, account))

    @staticmethod
    def region(event: Mapping[str, Any]) -> str:
        detail = event.get("detail") or {}
        region = P.text(detail, "awsRegion", mode=EVENT_MODE) or P.text(event, "region")
        if not region:
            raise InvalidInputError("the event names no region", field="region")
        return region

    def _prepare_call(self, event: Mapping[str, Any], op: Operation, reader: Reader) -> _core.Prepared:
        detail = event["detail"]
        params, response = detail.get("requestParameters"), detail.get("responseElements")
        for name, value in (("requestParameters", params), ("responseElements", response)):
            if value is not None and not _is_mapping(value):
                raise InvalidInputError(f"detail.{name} is not an object", field=name)
        if params is None and response is None:
            raise InvalidInputError(f"a {op.name} record without requestParameters or responseElements",
                                    field="requestParameters")
        account, region = self.subject(event), self.region(event)
        t = translate(op, detail, region, reader, self.gk.catalog)
        if not t.provisions:
            return _core.Prepared(None, reason=f"{op.name} provisions no compute (no instance type, or zero capacity)")
        request = ProvisioningRequest(
            provider="aws", account_id=account, items=t.items, region=region, service=op.service,
            operation=op.name, principal=principal_of(detail), source="lambda",
            resource_ids=tuple(r.arn or r.id for r in t.resources), unresolved=t.unresolved)
        return _core.Prepared(request, t.resources, notes=t.notes)

    def _prepare_state_change(self, event: Mapping[str, Any], reader: Reader) -> _core.Prepared:
        detail = event["detail"]
        instance_id = detail["instance-id"].strip()
        account, region = self.subject(event), self.region(event)
        resource = Resource("ec2:instance", instance_id, region)
        operation = f"StateChange:{detail['state']}"
        try:
            inst = reader.instance(instance_id, region)
        except ResolutionError as exc:
            if self.dry_run:  # nothing read: decide with the instance unresolved (fail-closed)
                request = ProvisioningRequest("aws", account, (), region=region, service="ec2", operation=operation,
                                              source="lambda", resource_ids=(instance_id,),
                                              unresolved=(_core.short_error(exc),))
                return _core.Prepared(request, (resource,))
            return _core.Prepared(None, reason=f"instance {instance_id} not found ({exc})")
        except Exception as exc:
            if _error_code(exc) in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
                return _core.Prepared(None, reason=f"instance {instance_id} not found ({_error_code(exc)})")
            raise  # transient (throttled, no permission): let the platform retry
        state = str((inst.get("State") or {}).get("Name", ""))
        if state in _AT_REST:
            return _core.Prepared(None, reason=f"instance {instance_id} is {state} now")
        itype = str(inst.get("InstanceType") or "")
        request = ProvisioningRequest(
            "aws", account, (ComputeItem(itype, 1),) if itype else (), region=region, service="ec2",
            operation=operation, source="lambda", resource_ids=(instance_id,),
            unresolved=() if itype else (f"instance {instance_id} has no instance type",))
        return _core.Prepared(request, (resource,))


def resource_account(event: Mapping[str, Any]) -> str:
    """The account the event happened in (where its resources are)."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    return (P.text(event, "account") or P.text(detail, "recipientAccountId", mode=EVENT_MODE)
            or P.text(detail, "userIdentity.accountId", mode=EVENT_MODE))


def _no_execute(action: Action) -> str:
    raise RuntimeError(f"no executor bound for {action.action}")  # replaced per event before any action


def principal_of(detail: Mapping[str, Any]) -> str:
    """Who made the call: the IAM ARN, else the service that made it on someone's behalf."""
    return next((found for p in ("userIdentity.arn", "userIdentity.invokedBy", "userIdentity.principalId")
                 if (found := P.text(detail, p, mode=EVENT_MODE))), "")


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, Mapping) else ""


def _raise(exc: InvalidInputError) -> Any:
    def prepare() -> _core.Prepared:
        raise exc
    return prepare


# -- the Lambda entry point ------------------------------------------------------------------------
_lock = threading.Lock()
_hook: AwsHook | None = None
_started = False  # the container's first event was handled (or is being handled)


def _container_hook() -> AwsHook:
    """The container's hook, rebuilt only when the process-wide runtime was replaced."""
    global _hook
    from gatekeeper.runtime import current

    with _lock:
        if _hook is None:
            _core.bootstrap_config()
        gk = current()  # built once per container: policies compiled once
        if _hook is None or _hook.gk is not gk:
            _hook = AwsHook(gk)
        return _hook


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point: ``gatekeeper.hooks.aws_lambda.handler``.

    With an ``s3://`` audit log the spool lives in the container's /tmp, which does not outlive it:
    the log is closed after every event, so that its records are in S3 before the invocation ends
    (an upload failure raises, and the invocation is retried).
    """
    global _started
    if _started:
        return _handle(event)
    with _core.cold_start():  # the container's first event: the runtime is built on the way
        _started = True
        return _handle(event)


def _handle(event: Any) -> dict[str, Any]:
    hook = _container_hook()
    try:
        return emf.measured(HOOK, hook.handle, event)  # CloudWatch embedded metrics (hooks/emf.py)
    finally:
        if hook.gk.config.audit.url.startswith("s3://"):
            hook.gk.close_audit()


def reset() -> None:
    """Forget the container's hook (tests; after ``gatekeeper.runtime.configure``)."""
    global _hook
    with _lock:
        _hook = None
