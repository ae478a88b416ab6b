"""Tests of the AWS drop-in wrapper (gatekeeper.adapters.aws) against moto, in-process and over HTTP."""
