"""A tiny app of the example project, to show emit() from your own code."""

from django.db import models, transaction

import django_automate


class Order(models.Model):
    number = models.CharField(max_length=32, unique=True)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=16, default="pending")

    def __str__(self) -> str:
        return self.number

    def mark_paid(self) -> None:
        """Mark paid and emit ``order.paid`` in the same transaction: both happen, or neither."""
        with transaction.atomic():
            self.status = "paid"
            self.save(update_fields=["status"])
            django_automate.emit("order.paid", {"id": self.number, "total": str(self.total), "status": "paid"})
