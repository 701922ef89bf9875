"""pyTorrent core: the public API that auth provider plugins import."""

from .config import ConfigError, Setting, Settings
from .hookspecs import hookimpl
from .models import Identity, LoginPage, LogoutAction, Principal, User

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Identity",
    "LoginPage",
    "LogoutAction",
    "Principal",
    "Setting",
    "Settings",
    "User",
    "__version__",
    "hookimpl",
]
