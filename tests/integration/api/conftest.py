"""Fixtures for the REST API tests: users with given permissions, token clients, base URL."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Permission, User
from django.test import Client

from django_automate.api.tokens import create_token

API = "/automate/api/v1/"
_names = itertools.count()


@dataclass
class ApiClient:
    """A Django test client speaking JSON, optionally with a bearer token."""

    client: Client
    token: str | None = None
    user: User | None = None

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        url = path if path.startswith("/") or path.startswith("http") else API + path
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
            kwargs["content_type"] = headers.pop("content_type", "application/json")
        return getattr(self.client, method.lower())(url, **kwargs)

    def get(self, path: str, **headers: str) -> Any:
        return self.request("GET", path, **headers)

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.request("POST", path, body if body is not None else {}, **headers)

    def put(self, path: str, body: Any, **headers: str) -> Any:
        return self.request("PUT", path, body, **headers)

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        return self.request("PATCH", path, body, **headers)

    def delete(self, path: str, **headers: str) -> Any:
        return self.request("DELETE", path, **headers)


def grant(user: User, *codenames: str) -> None:
    """Give ``user`` permissions named ``automate.<codename>`` (or bare codenames of the app)."""
    for codename in codenames:
        name = codename.split(".", 1)[-1]
        user.user_permissions.add(Permission.objects.get(content_type__app_label="automate", codename=name))


@pytest.fixture(autouse=True)
def api_settings(settings: Any) -> None:
    """Secrets can be stored (an encryption key) and lists show rows at once (no cursor safety margin)."""
    settings.AUTOMATE = {
        **settings.AUTOMATE,
        "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
        "API_CURSOR_SAFETY_SECONDS": 0,
    }


@pytest.fixture
def make_user() -> Callable[..., User]:
    def make(*perms: str, superuser: bool = False) -> User:
        name = f"user{next(_names)}"
        if superuser:
            return User.objects.create_superuser(name, f"{name}@example.com", None)
        user = User.objects.create_user(name, f"{name}@example.com", None)
        grant(user, *perms)
        return User.objects.get(pk=user.pk)  # fresh permission cache

    return make


@pytest.fixture
def make_client(make_user: Callable[..., User]) -> Callable[..., ApiClient]:
    """``make_client("view_event", tenant="acme")``: a token client of a new user with those permissions."""

    def make(*perms: str, tenant: str = "", superuser: bool = False) -> ApiClient:
        user = make_user(*perms, superuser=superuser)
        return ApiClient(Client(), create_token(user, tenant=tenant).plaintext, user)

    return make


@pytest.fixture
def admin_api(make_client: Callable[..., ApiClient]) -> ApiClient:
    return make_client(superuser=True)


@pytest.fixture
def anonymous() -> ApiClient:
    return ApiClient(Client())
