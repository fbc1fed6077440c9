"""The REST API (``/api/v1/`` under the app's URL prefix): DRF views, one error shape, cursor pagination."""
