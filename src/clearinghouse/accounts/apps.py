from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "clearinghouse.accounts"
    label = "accounts"
