"""API views, one module per resource; all share :class:`~django_automate.api.views.base.ApiView`."""
