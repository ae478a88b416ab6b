"""SDK adapters: translate a provider's provisioning call into one ProvisioningRequest and enforce the decision.

One sub-package per cloud (``aws``, ``azure``, ``gcp``), each imported only when used (``gatekeeper.aws``
etc. are lazy aliases, see ``gatekeeper/__init__.py``), since each imports its provider's SDK. Adapters
translate and enforce; they hold no policy logic. Shared, SDK-free helpers live next to them:
``_explain`` (the public error codes and the message a blocked caller reads) and ``_standin`` (a local
HTTP stand-in for cloud APIs, used by tests).
"""
