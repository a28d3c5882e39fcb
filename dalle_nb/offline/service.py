"""The offline server's routes about itself rather than its pictures: ``GET /v1/models`` and ``GET /health``.

``/v1/models`` lists the image models the server offers, as OpenAI lists them (retired ones only in the ``compat``
profile).  ``/health`` says the server is up and how busy it is, from the gauge every API shares on the ``Gate``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.capabilities import MODELS, ModelSpec
from .http import APIFailure, Gate


class ServiceAPI:
    """``/v1/models`` and ``/health`` bound to one server's ``Gate``."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.options = gate.options

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.get_model, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
        ]

    def _visible_models(self) -> list[ModelSpec]:
        return [m for m in MODELS.values() if self.options.profile == "compat" or not m.retired]

    async def list_models(self, request: Request) -> Response:
        self.gate.check_key(request)
        return JSONResponse({"object": "list", "data": [_model_object(m) for m in self._visible_models()]})

    async def get_model(self, request: Request) -> Response:
        self.gate.check_key(request)
        model_id = request.path_params["model_id"]
        for spec in self._visible_models():
            if spec.id == model_id:
                return JSONResponse(_model_object(spec))
        return APIFailure(
            404,
            f"The model '{model_id}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        ).response()

    async def health(self, request: Request) -> Response:
        """Whether the server is up, and how many image requests it is answering now, at most so far, and in all."""
        gauge = self.gate.gauge
        return JSONResponse(
            {
                "status": "ok",
                "profile": self.options.profile,
                "in_flight": gauge.in_flight,
                "peak_in_flight": gauge.peak_in_flight,
                "received": gauge.received,
                "drawing": gauge.drawing,
                "peak_drawing": gauge.peak_drawing,
            }
        )


def _model_object(spec: ModelSpec) -> dict[str, Any]:
    created = int(time.mktime(spec.retired_on.timetuple())) if spec.retired_on else 1_760_000_000
    return {"id": spec.id, "object": "model", "created": created, "owned_by": "dalle-nb-offline"}


__all__ = ["ServiceAPI"]
