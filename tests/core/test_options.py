"""The options of each call, declared once (``core/options.py``): shown by ``help()``, typed for mypy, and every one
of them reaching the request it is for."""

from __future__ import annotations

import inspect
import os
import pydoc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dalle_nb as dn
from dalle_nb.core.options import EditOptions, GenerateOptions, MaskOptions, names
from dalle_nb.core.plan import plan_edit, plan_generate
from dalle_nb.runtime.session import default_session

ROOT = Path(__file__).resolve().parents[2]


def test_help_shows_every_option_as_a_keyword_with_its_type_and_default() -> None:
    shown = inspect.signature(dn.generate).parameters
    compression = shown["output_compression"]
    assert compression.kind is inspect.Parameter.KEYWORD_ONLY
    assert (compression.annotation, compression.default) == ("int | None", None)
    assert shown["stream"].default is False and shown["style"].annotation == "str | None"
    assert set(names(GenerateOptions)) <= set(shown)
    assert {"on_partial", "labels", "wait", "progress", "on_event", "loop"} <= set(shown)  # the face's own
    assert shown["extra"].kind is inspect.Parameter.VAR_KEYWORD  # an option not listed is sent on as it is
    assert "output_compression: 'int | None' = None" in pydoc.render_doc(dn.generate)

    edit = inspect.signature(dn.edit).parameters
    assert edit["fit"].default == "error" and edit["keep_unmasked"].default is False and edit["mask"].default is None
    assert set(names(EditOptions)) <= set(edit) and "extra" in edit
    for function in (dn.agenerate, dn.aedit, dn.refine, dn.arefine, dn.submit):
        assert "output_compression" in inspect.signature(function).parameters, function.__name__
    vary = inspect.signature(dn.vary).parameters
    assert list(vary)[:1] == ["image"] and {"model", "n", "size", "prompt", "fit", "wait"} <= set(vary)
    assert "extra" not in vary and "extra" not in inspect.signature(dn.refine).parameters  # they pass nothing on
    batch = inspect.signature(dn.submit).parameters
    assert "moderation" in batch and "stream" not in batch and "completion_window" in batch


def test_vary_and_refine_refuse_an_unknown_keyword_as_python_does() -> None:
    with pytest.raises(TypeError, match=r"vary\(\) got an unexpected keyword argument 'quality'"):
        dn.vary(b"not read", quality="low", wait=False)
    with pytest.raises(TypeError, match=r"refine\(\) got an unexpected keyword argument 'qualty'"):
        dn.refine(b"not read", "dusk", qualty="low", wait=False)


def test_every_option_of_generate_reaches_its_request() -> None:
    gpt = {
        "model": "gpt-image-1.5", "n": 2, "size": "1024x1536", "quality": "low", "background": "opaque",
        "output_format": "webp", "output_compression": 50, "moderation": "low", "stream": True, "partial_images": 1,
        "user": "someone", "safety_identifier": "someone",
    }  # fmt: skip
    legacy = {"model": "dall-e-3", "size": "1024x1792", "quality": "hd", "style": "natural", "response_format": "url"}
    # a new option must be added here: declared and not planned would be silently dropped
    assert set(gpt) | set(legacy) | {"revise"} == names(GenerateOptions)
    for asked in (gpt, legacy):
        (request,) = plan_generate("a fox", revise=False, context=default_session(), **asked).requests  # type: ignore[arg-type]
        assert request.api_fields().items() >= asked.items()


def test_every_option_of_edit_reaches_its_request() -> None:
    gpt = {
        "model": "gpt-image-1.5", "n": 2, "size": "1024x1024", "quality": "low", "background": "opaque",
        "output_format": "jpeg", "output_compression": 40, "stream": True, "partial_images": 2,
        "input_fidelity": "high", "user": "someone", "safety_identifier": "someone",
    }  # fmt: skip
    legacy = {"model": "dall-e-2", "size": "256x256", "response_format": "url"}
    # what an edit takes besides its API fields is tested with the pictures (tests/core/test_keep_unmasked.py)
    assert set(gpt) | set(legacy) | (names(MaskOptions) - {"input_fidelity"}) | {"fit", "revise"} == names(EditOptions)
    photo, mask = np.zeros((256, 256, 3), np.uint8), np.ones((256, 256), bool)
    for asked in (gpt, legacy):
        job = plan_edit(photo, "a fox", mask=mask, revise=False, context=default_session(), **asked)  # type: ignore[arg-type]
        (request,) = job.requests
        assert request.api_fields().items() >= asked.items()


def test_a_typed_caller_gets_the_picture_type_of_each_call_and_a_misspelt_option_refused(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    user = tmp_path / "user.py"
    user.write_text(
        "from typing import assert_type\n"
        "import dalle_nb as dn\n"
        "from dalle_nb import ImageSet, JobHandle\n"
        "assert_type(dn.generate('a fox', size='1024x1024', output_compression=50), ImageSet)\n"
        "assert_type(dn.generate('a fox', wait=False, n=2), JobHandle)\n"
        "assert_type(dn.generate('a cat', model='dall-e-2', response_format='url', user='me'), ImageSet)\n"
        "assert_type(dn.edit(b'', 'a fox', mask=None, keep_unmasked=True, fit='crop', wait=False), JobHandle)\n"
        "assert_type(dn.vary(b'', n=2), ImageSet)\n"
        "assert_type(dn.refine(b'', 'dusk', quality='low', wait=False), JobHandle)\n"
        "dn.submit(['a fox'], size='1024x1024', style='vivid', labels=None)\n"
        "dn.generate('a fox', output_compresion=50)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MYPYPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", os.devnull, "--no-error-summary", str(user)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert errors and all(line.startswith(f"{user}:11:") for line in errors), run.stdout + run.stderr
    assert 'did you mean "output_compression"' in run.stdout
