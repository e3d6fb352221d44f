from django.apps import AppConfig


class ReplayConfig(AppConfig):
    name = "clearinghouse.replay"
    label = "replay"
