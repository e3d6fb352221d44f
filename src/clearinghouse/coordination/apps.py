from django.apps import AppConfig


class CoordinationConfig(AppConfig):
    name = "clearinghouse.coordination"
    label = "coordination"
