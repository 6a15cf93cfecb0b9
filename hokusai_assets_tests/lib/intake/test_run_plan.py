"""The contribution sensor's plan (lib/intake/run_plan.py): run, or hold for the reference."""

from hokusai_assets.lib.intake.run_plan import RunPlan, plan_contribution_runs

CURRENT = "sha256:" + "ab" * 32


def never(*_):
    raise AssertionError("must not be asked for")


def test_an_idle_tick_asks_for_nothing_and_hashes_nothing():
    assert plan_contribution_runs([], [], never, never) == RunPlan((), None, ())


def test_with_a_current_reference_every_waiting_contribution_runs_held_first():
    plan = plan_contribution_runs(["c-1"], ["c-2", "c-3"], lambda: CURRENT, lambda: CURRENT)
    assert plan == RunPlan(("c-1", "c-2", "c-3"), None, ())
    assert plan.describe() == "3 contribution run(s) requested"


def test_a_stale_or_missing_reference_holds_everything_and_asks_for_one_reference_run():
    for recorded in (None, "sha256:" + "00" * 32):
        plan = plan_contribution_runs(["c-1"], ["c-2"], lambda recorded=recorded: recorded, lambda: CURRENT)
        assert plan.evaluate == () and plan.held == ("c-1", "c-2")
        assert plan.prepare_reference == "reference-" + "ab" * 8  # one run key per fingerprint
        assert "2 contribution run(s) wait" in plan.describe()


def test_each_fingerprint_is_asked_for_once():
    asked = []
    plan_contribution_runs(["c-1"], [], lambda: asked.append("recorded"), lambda: asked.append("current") or CURRENT)
    assert sorted(asked) == ["current", "recorded"]


def test_an_idle_plan_says_so():
    assert plan_contribution_runs([], [], never, never).describe() == "nothing to run"
