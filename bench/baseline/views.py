"""The minimal view: parse a JSON body, insert one row, answer ``202``, as a Django developer would write it."""

from __future__ import annotations

import json

from bench.baseline.models import Hit
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def insert(request: HttpRequest) -> JsonResponse:
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"code": "malformed_payload"}, status=400)
    hit = Hit.objects.create(payload=payload)
    return JsonResponse({"id": hit.pk}, status=202)
