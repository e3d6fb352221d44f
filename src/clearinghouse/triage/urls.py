from django.urls import path

from clearinghouse.triage import views

app_name = "triage"
urlpatterns = [
    path("", views.queue, name="queue"),
]
