"""Money, for every face: what a call would cost before it is sent (``estimate``).

It sits above the API and background jobs because it prices what they would do: it plans a
call exactly as the call would (the same checks, the same refusals) and hands the plan to
``core.costs``, the one place prices are computed; nothing is sent.  The magics'
``--dry-run`` and the Studio's price line are this function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from . import api
from .core.capabilities import Profile
from .core.config import Settings
from .core.costs import Estimate
from .core.costs import estimate as estimate_job
from .core.options import EditOptions, GenerateOptions, split
from .core.plan import Job, plan_edit, plan_generate, plan_refine, plan_vary
from .runtime.session import default_session

#: Keywords that say how to run a call, not what it asks for: they change nothing of its price.
_HOW = ("wait", "progress", "on_event", "loop")


class _Pricing:
    """The session, as planning a price sees it: the same settings, rules and keys, but nothing said.

    An estimate is not the call: the Studio prices every change of an option, and the one-time
    notices (the first revised prompt, a retired model still served here) belong to the call that
    sends, not to its price.
    """

    def __init__(self) -> None:
        self._session = default_session()

    def settings(self, **arguments: Any) -> Settings:
        return self._session.settings(**arguments)

    def profile_for(self, settings: Settings) -> Profile:
        return self._session.profile_for(settings)

    def notice(self, text: str, *, once: bool = False) -> None:
        pass

    def secrets(self) -> frozenset[str]:
        return self._session.secrets()

    def first_time(self, key: str) -> bool:
        return False


def _generate(prompt: Any, *, on_partial: Any = None, labels: Any = None, **options: Any) -> Job:
    declared, extra = split(options, GenerateOptions)
    return plan_generate(
        prompt, wants_partials=on_partial is not None, labels=labels, extra=extra, context=_Pricing(),
        **declared,
    )  # fmt: skip


def _edit(image: Any, prompt: Any, *, on_partial: Any = None, **options: Any) -> Job:
    declared, extra = split(options, EditOptions)
    return plan_edit(
        image, prompt, wants_partials=on_partial is not None, extra=extra, context=_Pricing(), **declared
    )


def _vary(image: Any, **options: Any) -> Job:
    return plan_vary(image, context=_Pricing(), **options)


def _refine(image: Any, instruction: Any, *, on_partial: Any = None, **options: Any) -> Job:
    return plan_refine(image, instruction, wants_partials=on_partial is not None, context=_Pricing(), **options)


_PLANNERS: dict[Callable[..., Any], Callable[..., Job]] = {
    api.generate: _generate, api.agenerate: _generate,
    api.edit: _edit, api.aedit: _edit,
    api.vary: _vary, api.avary: _vary,
    api.refine: _refine, api.arefine: _refine,
}  # fmt: skip


def estimate(call: object, /, *args: Any, **kwargs: Any) -> Estimate:
    """What a call would cost, before anything is sent.

    Give the function and exactly the arguments the call would get:
    ``dn.estimate(dn.generate, "a fox", n=4, quality="high")``,
    ``dn.estimate(dn.edit, photo, "make it night", mask=m)``, ``dn.estimate(dn.vary, pic)``,
    ``dn.estimate(dn.refine, pic, "now at dusk")`` (and the async twins).  A prompt, or a list of
    prompts, first is ``generate``'s: ``dn.estimate("a fox", quality="low")``.

    The call is planned as it would be (a bad option raises ``InvalidRequest`` here too, and
    the settings, the model's defaults and fan-out all apply) and priced: the returned
    ``Estimate`` has ``low`` and ``high`` in US dollars (they differ where the API leaves room,
    e.g. ``quality="auto"``), ``requests``, ``pictures``, ``summary()``, or ``price unknown``
    with the reason where no price is known.  Nothing is sent and no budget is used.
    """
    if not callable(call):
        call, args = api.generate, (call, *args)
    planner = _PLANNERS.get(call)
    if planner is None:
        known = "generate, edit, vary, refine (and their async twins)"
        raise TypeError(f"estimate() prices a call of {known}, not {getattr(call, '__name__', call)!r}.")
    inspect.signature(call).bind(*args, **kwargs)  # the call's own TypeError for arguments it would refuse
    asked = {name: value for name, value in kwargs.items() if name not in _HOW}
    return estimate_job(planner(*args, **asked))


__all__ = ["estimate"]
