"""Hires steps (A1111's "Hires steps"): the hires pass runs exactly that many steps, the
progress counts them, the infotext names them and the CLI sets them."""

from __future__ import annotations

import pytest

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.protocol.events import Progress
from tests.e2e.engine_helpers import finished, request_for, run

pytestmark = pytest.mark.slow


def test_hires_steps_run_as_asked_and_are_in_the_infotext(tiny_sd1) -> None:
    engine = Engine(device="cpu", threads=1)
    request = request_for(
        tiny_sd1.single_file,
        steps=2,
        hires_scale=1.25,
        hires_strength=0.5,
        hires_steps=3,
        guidance=1.0,
    )
    events = run(engine, request)
    result = finished(events)
    assert result.images[0].size == (80, 80)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3, 4, 5]  # 2 + 3
    assert "Hires upscale: 1.25, Hires steps: 3, Hires upscaler: Latent" in result.parameters[0]
