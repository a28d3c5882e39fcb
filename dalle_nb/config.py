"""The old path of the settings (``dalle_nb.config.reset("quality")``, ``dn.config.settings()``), kept so
notebooks that use it still work: the values and rules of ``dalle_nb.core.config`` and the functions of
``dalle_nb.runtime.config``, which read and change the default session's settings.
"""

from .core.config import (
    DEFAULT_TEXT_MODEL,
    MAX_IMAGES_PER_CALL,
    OPENAI_HOST,
    RULES,
    SETTING_NAMES,
    BackendKind,
    SettingRule,
    Settings,
)
from .runtime.config import api_key, configure, on_change, reset, settings, update

__all__ = [
    "DEFAULT_TEXT_MODEL", "MAX_IMAGES_PER_CALL", "OPENAI_HOST", "RULES", "SETTING_NAMES", "BackendKind",
    "SettingRule", "Settings", "api_key", "configure", "on_change", "reset", "settings", "update",
]  # fmt: skip
