from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "clearinghouse.triage"
    label = "triage"
