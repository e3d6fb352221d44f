from django.urls import path

from clearinghouse.triage import views

app_name = "triage"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("families/", views.family_list, name="families"),
    path("families/<str:name>/", views.family_detail, name="family"),
    path("families/<str:name>/merge/", views.family_merge, name="family-merge"),
    path("families/<str:name>/split/", views.family_split, name="family-split"),
    path("reports/<uuid:report_id>/relabel/", views.report_relabel, name="report-relabel"),
]
