from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "clearinghouse.catalog"
    label = "catalog"
