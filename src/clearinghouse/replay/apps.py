from django.apps import AppConfig


class ReplayConfig(AppConfig):
    name = "clearinghouse.replay"
    label = "replay"

    def ready(self) -> None:
        # Registers the campaign task's liveness check before any worker looks for orphans.
        from clearinghouse.replay import tasks  # noqa: F401
