from django.urls import path

from clearinghouse.intake import views

app_name = "intake"
urlpatterns = [
    path("", views.my_reports, name="mine"),
    path("new/", views.submit, name="submit"),
    path("new/turn/", views.turn_fragment, name="turn_fragment"),
    path("<uuid:report_id>/", views.detail, name="detail"),
]
