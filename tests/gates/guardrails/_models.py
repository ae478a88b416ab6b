"""Independent reference models the generated guardrails are held against (not gatekeeper's code).

- ``scp_denies``: IAM's evaluation of Deny statements for one action and a request context (the
  operators the SCPs use: String(Not)Equals/Like, ForAnyValue:, Date*; a negated operator on a missing
  key is true, a positive one false, as IAM documents).
- ``SCP_SCHEMA``: the SCP grammar (AWS Organizations "SCP syntax"): one object, Version 2012-10-17,
  Statement of Effect/Action|NotAction/Resource/Condition/Sid, no Principal.
- ``AZURE_POLICY_SCHEMA`` and ``azure_rule_matches``: the policy-definition shape and the rule
  language's conditions used here (field/value/count, allOf/anyOf/not, in/equals/greater...).
"""

from __future__ import annotations

import fnmatch
from datetime import datetime
from typing import Any

ACTION = r"^[a-z0-9-]+:[A-Za-z0-9*?]+$"
CONDITION_OPERATORS = r"^(ForAnyValue:|ForAllValues:)?(StringEquals|StringNotEquals|StringLike|StringNotLike|" \
                      r"DateGreaterThan|DateLessThan|ArnLike|ArnNotLike|Bool|NumericLessThan|NumericGreaterThan)(IfExists)?$"

SCP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["Version", "Statement"],
    "additionalProperties": False,
    "properties": {
        "Version": {"const": "2012-10-17"},
        "Statement": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["Effect", "Resource"],
            "additionalProperties": False,
            "oneOf": [{"required": ["Action"]}, {"required": ["NotAction"]}],
            "properties": {
                "Sid": {"type": "string", "pattern": "^[A-Za-z0-9]+$"},
                "Effect": {"enum": ["Allow", "Deny"]},
                "Action": {"oneOf": [{"type": "string", "pattern": ACTION},
                                     {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": ACTION}}]},
                "NotAction": {"type": "array", "items": {"type": "string", "pattern": ACTION}},
                "Resource": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "Condition": {"type": "object", "propertyNames": {"pattern": CONDITION_OPERATORS},
                              "additionalProperties": {"type": "object", "minProperties": 1, "additionalProperties": {
                                  "oneOf": [{"type": "string"}, {"type": "array", "minItems": 1,
                                                                 "items": {"type": "string"}}]}}},
            },
        }},
    },
}


def _like(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _test(op: str, actual: Any, expected: Any) -> bool:
    expected_list = expected if isinstance(expected, list) else [expected]
    quantifier, _, base = op.rpartition(":")
    negated = "Not" in base
    if actual is None:
        return negated
    values = actual if isinstance(actual, list) else [actual]
    if base.startswith("Date"):
        a = datetime.fromisoformat(values[0].replace("Z", "+00:00"))
        b = datetime.fromisoformat(expected_list[0].replace("Z", "+00:00"))
        return a > b if base == "DateGreaterThan" else a < b
    like = "Like" in base

    def one(v: str) -> bool:
        hit = any(_like(v, e) if like else v == e for e in expected_list)
        return not hit if negated else hit

    if quantifier == "ForAnyValue":
        return any(one(v) for v in values)
    if quantifier == "ForAllValues":
        return all(one(v) for v in values)
    return one(values[0])


def scp_denies(policy: dict[str, Any], action: str, context: dict[str, Any]) -> bool:
    for s in policy["Statement"]:
        if s["Effect"] != "Deny":
            continue
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if not any(fnmatch.fnmatch(action.lower(), a.lower()) for a in actions):
            continue
        if all(_test(op, context.get(key), val) for op, block in s.get("Condition", {}).items()
               for key, val in block.items()):
            return True
    return False


# -- Azure Policy ------------------------------------------------------------------------------------
_OPS = ["equals", "notEquals", "like", "notLike", "in", "notIn", "contains", "notContains", "exists", "greater",
        "greaterOrEquals", "less", "lessOrEquals", "match", "matchInsensitively"]
_CONDITION: dict[str, Any] = {"type": "object", "minProperties": 1}
AZURE_POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["properties"],
    "properties": {"properties": {
        "type": "object",
        "required": ["policyRule", "mode", "displayName"],
        "properties": {
            "policyType": {"enum": ["Custom"]},
            "mode": {"enum": ["All", "Indexed"]},
            "displayName": {"type": "string", "maxLength": 128},
            "description": {"type": "string", "maxLength": 512},
            "parameters": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["type"],
                "properties": {"type": {"enum": ["String", "Array", "Object", "Boolean", "Integer", "Float",
                                                 "DateTime"]}}}},
            "policyRule": {"type": "object", "required": ["if", "then"], "additionalProperties": False,
                           "properties": {"if": {"$ref": "#/$defs/condition"},
                                          "then": {"type": "object", "required": ["effect"]}}},
        },
    }},
    "$defs": {"condition": {"oneOf": [
        {"type": "object", "required": ["allOf"], "additionalProperties": False,
         "properties": {"allOf": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}}},
        {"type": "object", "required": ["anyOf"], "additionalProperties": False,
         "properties": {"anyOf": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}}},
        {"type": "object", "required": ["not"], "additionalProperties": False,
         "properties": {"not": {"$ref": "#/$defs/condition"}}},
        {"type": "object", "required": ["field"], "minProperties": 2, "maxProperties": 2,
         "properties": {"field": {"type": "string"}, **{op: {} for op in _OPS}}, "additionalProperties": False},
        {"type": "object", "required": ["value"], "minProperties": 2, "maxProperties": 2,
         "properties": {"value": {}, **{op: {} for op in _OPS}}, "additionalProperties": False},
        {"type": "object", "required": ["count"], "minProperties": 2, "maxProperties": 2,
         "properties": {"count": {"type": "object", "required": ["field"],
                                  "properties": {"field": {"type": "string", "pattern": r"\[\*\]$"},
                                                 "where": {"$ref": "#/$defs/condition"}},
                                  "additionalProperties": False},
                        **{op: {} for op in _OPS}}, "additionalProperties": False},
    ]}},
}


def _resolve(expr: Any, params: dict[str, Any], now: str) -> Any:
    if isinstance(expr, str) and expr.startswith("[empty(parameters('"):
        return not params[expr[len("[empty(parameters('"):-len("'))]")]]
    if isinstance(expr, str) and expr.startswith("[parameters('"):
        return params[expr[len("[parameters('"):-len("')]")]]
    if expr == "[utcNow()]":
        return now
    return expr


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "equals":
        if isinstance(expected, bool) or isinstance(actual, bool):
            return actual is expected
        return str(actual).lower() == str(expected).lower()
    if op == "in":
        return actual is not None and str(actual).lower() in [str(e).lower() for e in expected]
    if op == "greaterOrEquals":
        return str(actual) >= str(expected)
    if op == "lessOrEquals":
        return str(actual) <= str(expected)
    if op == "greater":
        return actual > expected
    raise AssertionError(f"operator {op} not modelled")


def _field(resource: dict[str, Any], alias: str) -> Any:
    """The values of a few aliases on an ARM resource body (the aliases the definition uses)."""
    if alias == "type":
        return resource["type"]
    if alias == "location":
        return resource.get("location")
    rtype = resource["type"]
    path = alias[len(rtype) + 1:] if alias.lower().startswith(rtype.lower() + "/") else None
    if path is None:
        return None
    props = resource.get("properties", {})
    return {
        "sku.name": resource.get("sku", {}).get("name"),
        "vmSize": props.get("vmSize") or props.get("properties", {}).get("vmSize"),
        "agentPoolProfiles[*]": props.get("agentPoolProfiles", []),
        "agentPoolProfiles[*].vmSize": [p.get("vmSize") for p in props.get("agentPoolProfiles", [])],
    }.get(path)


def azure_rule_matches(cond: dict[str, Any], resource: dict[str, Any], params: dict[str, Any], now: str,
                       item: dict[str, Any] | None = None) -> bool:
    if "allOf" in cond:
        return all(azure_rule_matches(c, resource, params, now, item) for c in cond["allOf"])
    if "anyOf" in cond:
        return any(azure_rule_matches(c, resource, params, now, item) for c in cond["anyOf"])
    if "not" in cond:
        return not azure_rule_matches(cond["not"], resource, params, now, item)
    if "count" in cond:
        items = _field(resource, cond["count"]["field"]) or []
        where = cond["count"].get("where")
        n = sum(1 for it in items if where is None or azure_rule_matches(where, resource, params, now, it))
        op, expected = next((k, v) for k, v in cond.items() if k != "count")
        return _compare(op, n, expected)
    op, expected = next((k, v) for k, v in cond.items() if k not in ("field", "value"))
    if "field" in cond:
        alias = cond["field"]
        actual = item.get(alias.rsplit(".", 1)[-1]) if item is not None and "[*]." in alias else _field(resource, alias)
    else:
        actual = _resolve(cond["value"], params, now)
    return _compare(op, actual, _resolve(expected, params, now))
