"""ExamplePay: an example third-party payment provider plugin for membership-payments.

The entry point `example` (group `payments.providers`) names `ExampleProvider.from_settings`.
"""
from payments_example_provider.provider import ExampleProvider
from payments_example_provider.remote import ExamplePayRemote

__all__ = ["ExamplePayRemote", "ExampleProvider"]
