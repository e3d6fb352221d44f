"""URL map: the console (HTML) at the root, the JSON API under /api/."""

from django.urls import include, path
from django.views.generic import RedirectView

from clearinghouse.api import api
from clearinghouse.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("api/", api.urls),
    path("accounts/", include("clearinghouse.accounts.urls")),
    path("reports/", include("clearinghouse.intake.urls")),
    path("triage/", include("clearinghouse.triage.urls")),
    path("replay/", include("clearinghouse.replay.urls")),
    path("favicon.ico", RedirectView.as_view(url="/static/clearinghouse/favicon.svg")),
]
