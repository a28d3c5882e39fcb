"""The old path of ``dalle_nb.core.imaging`` (images in, API-ready bytes out; masks),
kept so notebooks that import ``dalle_nb.imaging`` still work.

It is the same module object, not a copy: what one changes, the other sees.
"""

import sys

from .core import imaging as _module

sys.modules[__name__] = _module
