"""The offline backend: a local HTTP server that speaks the OpenAI Images API.

Classrooms, Binder, CI and machines without a key use it through the official ``openai``
SDK exactly as they would use OpenAI.  ``start()`` runs one in the background.
"""

from .options import Fault, ServerOptions, parse_faults
from .server import OfflineServer, start

__all__ = ["Fault", "OfflineServer", "ServerOptions", "parse_faults", "start"]
