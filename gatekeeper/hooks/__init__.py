"""Detective hooks: catch provisioning that bypassed the SDK adapters and put it right.

- ``gatekeeper.hooks.aws_lambda.handler``: AWS Lambda on EventBridge (CloudTrail API calls, EC2
  state changes).
- ``gatekeeper.hooks.azure_function``: Azure Function on Event Grid ``ResourceWriteSuccess``.
- ``gatekeeper.hooks.remediation``: the pure plan (decision -> actions) both share.

Nothing is imported here: the Lambda's cold start imports only what its handler needs.
"""
