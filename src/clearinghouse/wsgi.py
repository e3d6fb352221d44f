"""WSGI entry point, served by gunicorn (``clearinghouse serve``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
application = get_wsgi_application()
