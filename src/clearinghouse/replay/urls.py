from django.urls import path

from clearinghouse.replay import views

app_name = "replay"
urlpatterns = [
    path("endpoints/", views.endpoint_list, name="endpoints"),
    path("reports/<uuid:report_id>/campaigns/", views.campaign_start, name="campaign-start"),
    path("campaigns/<uuid:campaign_id>/", views.campaign_detail, name="campaign"),
    path("campaigns/<uuid:campaign_id>/status/", views.campaign_status, name="campaign-status"),
    path(
        "campaigns/<uuid:campaign_id>/<str:action>/",
        views.campaign_control,
        name="campaign-control",
    ),
]
