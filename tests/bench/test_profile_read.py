"""`python -m bench.profile --read`: the shares of a profile written before, counted over the
active samples only (a thread or the event loop waiting is idle), each frame with all it calls."""

from __future__ import annotations

from pathlib import Path

from bench.profile import own_samples, shares

PROFILE = """\
run (a.py:1);activate (w.py:2);commit (w.py:3);execute (db.py:4) 6
run (a.py:1);activate (w.py:2);rehearse (w.py:5) 3
run (a.py:1);project (p.py:7);execute (db.py:4) 1
thread;_worker (concurrent/futures/thread.py:81) 40
run (a.py:1);Runner.run (asyncio/runners.py:118) 50
"""


def test_shares_count_a_frame_with_what_it_calls_among_the_active_samples(tmp_path: Path) -> None:
    profile = tmp_path / "profile-worker.txt"
    profile.write_text(PROFILE)
    found = shares(profile, ["activate (", "execute (", "rehearse (", "nowhere"])
    assert found == {"activate (": 90.0, "execute (": 70.0, "rehearse (": 30.0, "nowhere": 0.0}
    active, leaves = own_samples(profile)
    assert active == 10
    assert leaves["execute (db.py:4)"] == 7 and leaves["rehearse (w.py:5)"] == 3
