"""``automate token create <username> [--name N] [--tenant T]`` and ``automate token revoke <token-id>``."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from django_automate import exceptions

HELP = "Create an API token (printed once) or revoke one."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="token_action", required=True)
    create = actions.add_parser("create", help="Create a token acting as <username>; prints it once.")
    create.add_argument("username")
    create.add_argument("--name", default="", help="What the token is for.")
    create.add_argument("--tenant", default="", help='Tenant the token acts in (default "").')
    create.add_argument("--actor", default="cli", help="Who is recorded in the audit log.")
    revoke = actions.add_parser("revoke", help="Revoke the token with this id.")
    revoke.add_argument("token_id")
    revoke.add_argument("--actor", default="cli", help="Who is recorded in the audit log.")


def handle(command: BaseCommand, **options: Any) -> None:
    from django_automate.api import tokens
    from django_automate.models import ApiToken

    if options["token_action"] == "create":
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(options["username"])
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        try:
            new = tokens.create_token(user, name=options["name"], tenant=options["tenant"], actor=options["actor"])
        except exceptions.AutomateError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        # The token alone on stdout (so `TOKEN=$(manage.py automate token create alice)` works); details on stderr.
        command.stdout.write(new.plaintext)
        command.stderr.write(f"token {new.token.pk} for {user.get_username()}: store it now, it is not shown again")
        return
    try:
        token = ApiToken.objects.get(pk=uuid.UUID(options["token_id"]))
    except (ValueError, ApiToken.DoesNotExist):
        raise CommandError(f"No API token with id {options['token_id']!r}.") from None
    already = token.revoked_at is not None
    tokens.revoke_token(token, actor=options["actor"])
    command.stdout.write(f"token {token.pk} {'was already revoked' if already else 'revoked'}")
