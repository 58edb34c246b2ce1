"""keyturn: an OAuth 2.0 / OpenID Connect authorization server built around refresh tokens."""

__version__ = "0.2.0"

__all__ = ["__version__"]
