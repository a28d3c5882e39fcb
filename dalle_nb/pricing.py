"""Money, for every face: what a call would cost before it is sent (``estimate``), and what the pictures
made so far cost (``spent``).

It sits above the API and background jobs because it prices what they would do: it plans a
call exactly as the call would (the same checks, the same refusals) and hands the plan to
``core.costs``, the one place prices are computed; nothing is sent.  The magics'
``--dry-run`` and the Studio's price line are this function.
"""

from __future__ import annotations

import datetime as _dt
import inspect
from collections.abc import Callable
from typing import Any

from . import api
from .background import batch
from .core.capabilities import Profile
from .core.config import Settings
from .core.costs import Estimate, Spending, spending
from .core.costs import estimate as estimate_job
from .core.errors import InvalidRequest
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
    return plan_edit(image, prompt, wants_partials=on_partial is not None, extra=extra, context=_Pricing(), **declared)


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
    ``dn.estimate(dn.refine, pic, "now at dusk")`` (and the async twins), and a background job,
    at the Batch API's price: ``dn.estimate(dn.submit, prompts, quality="low")``.  A prompt, or a
    list of prompts, first is ``generate``'s: ``dn.estimate("a fox", quality="low")``.

    The call is planned as it would be (a bad option raises ``InvalidRequest`` here too, and
    the settings, the model's defaults and fan-out all apply) and priced: the returned
    ``Estimate`` has ``low`` and ``high`` in US dollars (they differ where the API leaves room,
    e.g. ``quality="auto"``), ``requests``, ``pictures``, ``summary()``, or ``price unknown``
    with the reason where no price is known.  Nothing is sent and no budget is used.
    """
    if not callable(call):
        call, args = api.generate, (call, *args)
    if call is batch.submit:
        inspect.signature(call).bind(*args, **kwargs)
        how = ("metadata", "callback_url", "completion_window")  # how the job runs, not what it asks for
        return batch.plan_submit(*args, **{name: value for name, value in kwargs.items() if name not in how}).estimate
    planner = _PLANNERS.get(call)
    if planner is None:
        known = "generate, edit, vary, refine (and their async twins), submit"
        raise TypeError(f"estimate() prices a call of {known}, not {getattr(call, '__name__', call)!r}.")
    inspect.signature(call).bind(*args, **kwargs)  # the call's own TypeError for arguments it would refuse
    asked = {name: value for name, value in kwargs.items() if name not in _HOW}
    return estimate_job(planner(*args, **asked))


_BY = ("day", "model", "session")


def _since(since: object) -> tuple[float | None, str | None]:
    """``since`` as a Unix time (local midnight for a day) and as shown; ``InvalidRequest`` saying what it takes."""
    if since is None:
        return None, None
    when: _dt.datetime
    if isinstance(since, _dt.datetime):
        when = since
    elif isinstance(since, _dt.date):
        when = _dt.datetime.combine(since, _dt.time())
    elif isinstance(since, str):
        try:
            day = _dt.date.fromisoformat(since.strip())
        except ValueError:
            day = None
        if day is None:
            raise InvalidRequest(
                f"since={since!r} is not a day: give 'YYYY-MM-DD', a date or a datetime.", field="since", value=since
            )
        when = _dt.datetime.combine(day, _dt.time())
    else:
        raise InvalidRequest(
            f"since must be 'YYYY-MM-DD', a date or a datetime, not {type(since).__name__}.", field="since"
        )
    shown = when.strftime("%Y-%m-%d %H:%M") if isinstance(since, _dt.datetime) else when.strftime("%Y-%m-%d")
    return when.timestamp(), shown


def spent(by: str = "day", *, since: object = None) -> Spending:
    """What the pictures in the gallery cost, summed ``by`` ``"day"`` (local days, oldest first), ``"model"``
    (the costliest first) or ``"session"`` (each kernel session, oldest first; the current one is "this
    session"), from ``since`` on (``"YYYY-MM-DD"``, a date or a datetime).

    Each picture's cost was computed when it was saved, from the usage the API returned (a batch's at its
    discount); pictures whose price was unknown, or saved before costs were kept, are counted as
    ``unpriced``, never as $0.  The result shows as a table; ``.total`` is a ``Cost``, ``.rows`` the rows
    (key, pictures, usd, unpriced).  Offline pictures are free: their cost is what OpenAI would charge.
    """
    if by not in _BY:
        raise InvalidRequest(f"by must be one of {', '.join(map(repr, _BY))}, not {by!r}.", field="by", value=by)
    start, shown = _since(since)
    session = default_session()
    rows = session.gallery().costs(start)
    if by == "day":
        keyed = ((_dt.datetime.fromtimestamp(created).strftime("%Y-%m-%d"), cost) for created, _, cost, _ in rows)
        return spending(keyed, by, shown)
    if by == "model":
        return spending(((model, cost) for _, model, cost, _ in rows), by, shown, order="cost")
    names = {session.id: "this session", None: "before sessions were kept"}
    return spending(((names.get(ses, ses or ""), cost) for _, _, cost, ses in rows), by, shown)


__all__ = ["estimate", "spent"]
