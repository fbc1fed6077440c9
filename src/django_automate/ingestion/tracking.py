"""Model changes as events: ``track(Model, on=..., fields=...)`` and ``AUTOMATE["TRACK_MODELS"]``.

Built on Django's model signals, so it works for any model, including third-party ones:
``pre_save`` reads the tracked fields' stored values (one ``SELECT`` per update of a
tracked model), ``post_save``/``post_delete`` emit ``<app_label>.<model>.<created|updated|deleted>``
on the database alias the change was written to, so the event commits or rolls back with
the change. See docs/triggers.md for what bulk operations do and do not capture.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, post_save, pre_save

from django_automate import conf, exceptions

KINDS = ("created", "updated", "deleted")
SOURCE = "model"
_BEFORE = "_automate_tracked_before"

Tenant = str | Callable[[models.Model], str]


@dataclass(frozen=True)
class TrackSpec:
    """How one model is tracked."""

    model: type[models.Model]
    on: frozenset[str]
    fields: tuple[str, ...] | None
    exclude: frozenset[str]
    tenant: Tenant

    def tracked_fields(self) -> list[models.Field[Any, Any]]:
        """Concrete fields whose values go into ``data`` (all of them unless ``fields`` names some)."""
        chosen = [
            f
            for f in self.model._meta.concrete_fields
            if (self.fields is None or f.name in self.fields) and f.name not in self.exclude
        ]
        return chosen

    def compared_fields(self) -> list[models.Field[Any, Any]]:
        """Fields whose change makes an update event; ``auto_now`` timestamps only when named."""
        return [
            f
            for f in self.tracked_fields()
            if not (self.fields is None and getattr(f, "auto_now", False)) and not f.primary_key
        ]

    def event_type(self, kind: str) -> str:
        return f"{self.model._meta.app_label}.{self.model._meta.model_name}.{kind}"

    def tenant_of(self, instance: models.Model) -> str:
        return str(self.tenant(instance) if callable(self.tenant) else self.tenant)


_registry: dict[type[models.Model], TrackSpec] = {}
_lock = threading.Lock()


def track(
    model: type[models.Model],
    on: Iterable[str] = KINDS,
    fields: Iterable[str] | None = None,
    *,
    exclude: Iterable[str] = (),
    tenant: Tenant = "",
) -> TrackSpec:
    """Emit an event for each change of ``model``'s rows, in the transaction that made it.

    ``on`` picks among ``created``, ``updated`` and ``deleted``; ``fields`` limits the tracked
    fields (an update that changes none of them emits nothing); ``exclude`` leaves fields out
    of payloads (passwords, tokens); ``tenant`` is a string or a callable taking the instance.
    Tracking the same model again with the same options is a no-op; with other options it
    raises ImproperlyConfigured (call :func:`untrack` first).
    """
    spec = _spec(model, on, fields, exclude, tenant)
    with _lock:
        existing = _registry.get(model)
        if existing is not None:
            if existing == spec:
                return existing
            raise exceptions.ImproperlyConfigured(
                f"{model._meta.label} is already tracked with other options; untrack() it first.",
                details={"model": model._meta.label},
            )
        _registry[model] = spec
        uid = _uid(model)
        pre_save.connect(_before_save, sender=model, dispatch_uid=uid, weak=False)
        post_save.connect(_after_save, sender=model, dispatch_uid=uid, weak=False)
        post_delete.connect(_after_delete, sender=model, dispatch_uid=uid, weak=False)
    return spec


def untrack(model: type[models.Model]) -> None:
    """Stop tracking ``model`` (mainly for tests)."""
    with _lock:
        _registry.pop(model, None)
        uid = _uid(model)
        pre_save.disconnect(sender=model, dispatch_uid=uid)
        post_save.disconnect(sender=model, dispatch_uid=uid)
        post_delete.disconnect(sender=model, dispatch_uid=uid)


def tracked() -> dict[type[models.Model], TrackSpec]:
    """The tracked models and how they are tracked."""
    with _lock:
        return dict(_registry)


def _uid(model: type[models.Model]) -> str:
    return f"django_automate.track:{model._meta.label_lower}"


def _spec(
    model: Any, on: Iterable[str], fields: Iterable[str] | None, exclude: Iterable[str], tenant: Any
) -> TrackSpec:
    if not (isinstance(model, type) and issubclass(model, models.Model)) or model._meta.abstract:
        raise exceptions.ImproperlyConfigured(f"{model!r} is not a concrete Django model.")
    if model._meta.app_label == "automate":
        raise exceptions.ImproperlyConfigured(f"{model._meta.label} cannot be tracked: its changes are the events.")
    kinds = frozenset([on] if isinstance(on, str) else on)
    unknown = sorted(kinds - set(KINDS))
    if not kinds or unknown:
        raise exceptions.ImproperlyConfigured(
            f"on= for {model._meta.label} must name some of {', '.join(KINDS)}; got {sorted(kinds)}."
        )
    names = {f.name for f in model._meta.concrete_fields}
    chosen = None if fields is None else tuple([fields] if isinstance(fields, str) else fields)
    excluded = frozenset([exclude] if isinstance(exclude, str) else exclude)
    missing = sorted((set(chosen or ()) | excluded) - names)
    if missing:
        raise exceptions.ImproperlyConfigured(
            f"{model._meta.label} has no concrete field(s) {', '.join(missing)}.",
            details={"model": model._meta.label, "fields": missing},
        )
    if not (isinstance(tenant, str) or callable(tenant)):
        raise exceptions.ImproperlyConfigured(f"tenant= for {model._meta.label} must be a string or a callable.")
    return TrackSpec(model, kinds, chosen, excluded, tenant)


# Signal receivers ---------------------------------------------------------------------------


def _before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any) -> None:
    """Remember the stored values of the tracked fields this save may change."""
    spec = _registry.get(sender)
    instance.__dict__.pop(_BEFORE, None)
    if spec is None or raw or "updated" not in spec.on or instance.pk is None:
        return
    pk_field = sender._meta.pk
    if instance._state.adding and pk_field is not None and pk_field.has_default():
        return  # Django inserts such rows without trying an UPDATE first
    update_fields = kwargs.get("update_fields")
    deferred = instance.get_deferred_fields()
    compared = [
        f
        for f in spec.compared_fields()
        if f.attname not in deferred and (update_fields is None or {f.name, f.attname} & set(update_fields))
    ]
    if not compared:
        return
    using = kwargs.get("using") or "default"
    stored = sender._base_manager.using(using).filter(pk=instance.pk).values(*[f.attname for f in compared]).first()
    if stored is not None:
        instance.__dict__[_BEFORE] = (using, {f.name: (f, stored[f.attname]) for f in compared})


def _after_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    spec = _registry.get(sender)
    if spec is None or raw:
        return
    using = kwargs.get("using") or "default"
    if created:
        if "created" in spec.on:
            data = _data(spec, instance)
            _emit(spec, "created", instance, data, {name: [None, value] for name, value in data.items()}, using)
        return
    if before is None or before[0] != using or "updated" not in spec.on:
        return
    changes = {}
    for name, (field, old) in before[1].items():
        new = field.value_from_object(instance)
        if not _equal(field, old, new):
            changes[name] = [_json(field, old), _json(field, new)]
    if changes:
        _emit(spec, "updated", instance, _data(spec, instance), changes, using)


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    spec = _registry.get(sender)
    if spec is None or "deleted" not in spec.on:
        return
    data = _data(spec, instance)
    changes = {name: [value, None] for name, value in data.items()}
    _emit(spec, "deleted", instance, data, changes, kwargs.get("using") or "default")


def _emit(
    spec: TrackSpec, kind: str, instance: models.Model, data: dict[str, Any], changes: dict[str, Any], using: str
) -> None:
    from django_automate.ingestion.emit import emit

    pk_field = spec.model._meta.pk
    payload = {"pk": _json(pk_field, instance.pk), "data": data, "changes": changes}
    emit(spec.event_type(kind), payload, tenant=spec.tenant_of(instance), source=SOURCE, using=using)


# Serialisation ------------------------------------------------------------------------------


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(o)).decode()
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _json(field: Any, value: Any) -> Any:
    """A field value as JSON: dates in ISO 8601, decimals and UUIDs as strings, bytes in base64."""
    if isinstance(value, FieldFile):
        value = value.name or None
    return json.loads(json.dumps(value, cls=_Encoder))


def _equal(field: models.Field[Any, Any], old: Any, new: Any) -> bool:
    """Compare as Python values after the field's normalisation (``Decimal("1.50") == Decimal("1.5")``)."""
    try:
        return bool(field.to_python(old) == field.to_python(new))
    except Exception:  # a value the field cannot normalise (Django raises ValidationError): compare as JSON
        return bool(_json(field, old) == _json(field, new))


def _data(spec: TrackSpec, instance: models.Model) -> dict[str, Any]:
    deferred = instance.get_deferred_fields()
    return {f.name: _json(f, f.value_from_object(instance)) for f in spec.tracked_fields() if f.attname not in deferred}


# AUTOMATE["TRACK_MODELS"] ------------------------------------------------------------------

_ENTRY_KEYS = frozenset({"model", "on", "fields", "exclude", "tenant", "tenant_field"})


def spec_kwargs(entry: Any) -> dict[str, Any]:
    """Arguments of :func:`track` for one ``TRACK_MODELS`` entry; raise ImproperlyConfigured if it is wrong.

    An entry is ``"app_label.Model"`` or ``{"model": "app_label.Model", "on": [...],
    "fields": [...], "exclude": [...], "tenant": "..."}`` (or ``"tenant_field": "<attribute>"``).
    """
    if isinstance(entry, str):
        entry = {"model": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
        raise exceptions.ImproperlyConfigured(
            f"Each AUTOMATE['TRACK_MODELS'] entry must be 'app_label.Model' or a dict with 'model'; got {entry!r}."
        )
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise exceptions.ImproperlyConfigured(
            f"Unknown key(s) {', '.join(unknown)} in AUTOMATE['TRACK_MODELS'] entry {entry['model']!r}."
        )
    try:
        model = apps.get_model(entry["model"])
    except (LookupError, ValueError) as exc:
        raise exceptions.ImproperlyConfigured(
            f"AUTOMATE['TRACK_MODELS'] names {entry['model']!r}, which is not an installed model."
        ) from exc
    tenant: Tenant = entry.get("tenant", "")
    if "tenant_field" in entry:
        attribute = str(entry["tenant_field"])
        if attribute not in {f.attname for f in model._meta.concrete_fields} | {f.name for f in model._meta.fields}:
            raise exceptions.ImproperlyConfigured(f"{model._meta.label} has no field {attribute!r} (tenant_field).")
        tenant = _TenantAttribute(attribute)
    return {
        "model": model,
        "on": entry.get("on", KINDS),
        "fields": entry.get("fields"),
        "exclude": entry.get("exclude", ()),
        "tenant": tenant,
    }


@dataclass(frozen=True)
class _TenantAttribute:
    """Reads the tenant from an attribute of the instance (comparable, so re-tracking is a no-op)."""

    attribute: str

    def __call__(self, instance: models.Model) -> str:
        return str(getattr(instance, self.attribute) or "")


def setting_problems() -> list[str]:
    """What is wrong with ``AUTOMATE["TRACK_MODELS"]`` (for system checks)."""
    entries = conf.get("TRACK_MODELS")
    if not isinstance(entries, (list, tuple)):
        return ["AUTOMATE['TRACK_MODELS'] must be a list."]
    problems = []
    for entry in entries:
        try:
            kwargs = spec_kwargs(entry)
            _spec(**kwargs)
        except exceptions.AutomateError as exc:
            problems.append(exc.message)
    return problems


def setup_from_settings() -> None:
    """Track every model of ``AUTOMATE["TRACK_MODELS"]``; called from ``AppConfig.ready()``."""
    entries = conf.get("TRACK_MODELS")
    if not isinstance(entries, (list, tuple)):
        raise exceptions.ImproperlyConfigured("AUTOMATE['TRACK_MODELS'] must be a list.")
    for entry in entries:
        track(**spec_kwargs(entry))
