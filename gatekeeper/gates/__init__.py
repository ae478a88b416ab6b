"""Gates: decisions before anything is called.

- :mod:`gatekeeper.gates.plan`: Terraform/OpenTofu plans decided resource by resource (``plan check``);
- :mod:`gatekeeper.gates.guardrails`: what the packs decide for the customers on file, compiled into
  the clouds' own preventive controls (SCPs, Azure Policy, organization policy custom constraints).

Both read the provider specs (``gatekeeper.providers``) so that a plan's resource, a guardrail's
action and an SDK call are tied to the same row.
"""
