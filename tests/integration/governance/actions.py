"""``python`` actions for the leak tests: connectors that fail or answer carelessly with a credential."""

from __future__ import annotations

import base64
from typing import Any

from django_automate.connectors.base import ConnectorContext, PermanentError


def crash_with_token(params: dict[str, Any], ctx: ConnectorContext) -> Any:
    """A bug in a connector: an exception whose text contains the credential."""
    raise RuntimeError(f"upstream rejected token={params['token']} ({params['token'].encode().hex()})")


def reject_with_token(params: dict[str, Any], ctx: ConnectorContext) -> Any:
    """A permanent failure that quotes the credential in its message and details."""
    token = params["token"]
    raise PermanentError(
        f"Token {token} is revoked.", details={"token": token, "b64": base64.b64encode(token.encode()).decode()}
    )


def return_token(params: dict[str, Any], ctx: ConnectorContext) -> Any:
    """A success whose output carries the credential in several encodings, and logs it."""
    token = params["token"]
    ctx.logger.info("connected with %s", token)
    return {"echo": token, "b64": base64.b64encode(token.encode()).decode(), "hex": token.encode().hex()}
