"""Models for model-change tracking tests."""

from __future__ import annotations

import uuid

from django.db import models


class Article(models.Model):
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, default="draft")
    body = models.TextField(blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    published_on = models.DateField(null=True, blank=True)
    api_token = models.CharField(max_length=64, blank=True)
    tenant = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.title


class Comment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="comments")
    text = models.TextField()

    def __str__(self) -> str:
        return self.text[:20]


class StepWrite(models.Model):
    """A row written by a ``python`` step (transactional step tests), under the step's idempotency key."""

    key = models.CharField(max_length=100, db_index=True)

    def __str__(self) -> str:
        return self.key


class Counter(models.Model):
    """A named counter that ``python`` steps increment."""

    name = models.CharField(max_length=50, unique=True)
    value = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
