"""Persistence: one typed Store protocol, SQLite and PostgreSQL backends."""

from keyturn.store.base import EmailTaken, Store, StoreUnavailable
from keyturn.store.factory import open_store

__all__ = ["EmailTaken", "Store", "StoreUnavailable", "open_store"]
