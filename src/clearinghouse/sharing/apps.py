from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "clearinghouse.sharing"
    label = "sharing"
