"""dalle_nb: OpenAI's image models as a native part of Jupyter."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
