"""The demo's time plan: seconds, not epochs, split by the measured pace; too little time is said, not run."""

from __future__ import annotations

import time

import pytest

from slimnas.pace import (EXPORT_S, TAIL_MARGIN, MAX_SEARCH_SHARE, MIN_RETRAIN_EPOCHS, PRUNE_TAIL_S, SEARCH_OVERHEAD_S, TAIL_S, TRAIN_OVERHEAD_S, TimePlan, TooSlow,
                          machine_pace)


def test_the_plan_gives_the_search_a_share_and_the_retrain_the_rest():
    now = time.time()
    plan = TimePlan(600, now - 100, pace=1.0)  # 100 s already spent (the venv, the data)
    fixed = SEARCH_OVERHEAD_S + TRAIN_OVERHEAD_S + TAIL_S
    assert plan.search_seconds() == pytest.approx(0.25 * (500 - fixed), abs=1.0)
    slow = TimePlan(600, now - 100, pace=2.0)  # the fixed costs take twice as long: less for the search
    assert slow.search_seconds() == pytest.approx(0.25 * (500 - 2 * fixed), abs=1.0)
    assert plan.retrain_seconds(epoch_s=4.0, ft_epochs=2) == pytest.approx(500 - TRAIN_OVERHEAD_S - TAIL_S - 8, abs=1.0)
    # a longer tail (the demo's pruned candidate) is set aside at this machine's pace too
    pruning = TimePlan(600, now - 100, pace=2.0, tail_s=TAIL_S + PRUNE_TAIL_S)
    assert pruning.free() == pytest.approx(slow.free() - 2 * PRUNE_TAIL_S, abs=1.0)


def test_too_little_time_is_said_with_what_would_do():
    now = time.time()
    with pytest.raises(TooSlow, match=r"too little for a search .* --minutes \(about \d+"):
        TimePlan(300, now - 200, pace=2.0).search_seconds()
    left = TimePlan(600, now - 400, pace=1.0)  # 200 s left, less the retrain's overhead and the tail
    retrain_s = 200 - TRAIN_OVERHEAD_S - TAIL_S
    with pytest.raises(TooSlow, match=f"fewer than the {MIN_RETRAIN_EPOCHS} a useful result needs"):
        left.retrain_seconds(epoch_s=1.1 * retrain_s / MIN_RETRAIN_EPOCHS)
    assert left.retrain_seconds(epoch_s=0.9 * retrain_s / MIN_RETRAIN_EPOCHS) == pytest.approx(retrain_s, abs=1.0)


def test_the_pace_probe_measures_this_machine():
    pace = machine_pace(steps=4)
    assert 1.0 <= pace < 50


def test_a_search_budget_given_by_hand_must_leave_the_retrain_its_share():
    now = time.time()
    plan = TimePlan(600, now, pace=1.0)
    plan.check_search(0.5 * plan.free())  # fits: the retrain keeps half
    with pytest.raises(TooSlow, match=r"a 3600 s search leaves the retrain too little of the 10-minute plan.*"
                                      r"about (\d+)\) or a smaller --search-budget"):
        plan.check_search(3600)
    minutes = TimePlan(600, now, pace=1.0).needed_minutes(3600 / MAX_SEARCH_SHARE)
    TimePlan(minutes * 60 + 1, now, pace=1.0).check_search(3600)  # the budget it names is enough


def test_epochs_asked_for_are_the_retrains_floor_under_a_plan():
    plan = TimePlan(600, time.time() - 400, pace=1.0)  # 200 s left: 152 s for the retrain
    assert plan.retrain_seconds(epoch_s=2.0, min_epochs=40) > 40 * 2.0  # fits: it gets all of it
    with pytest.raises(TooSlow, match=r"fewer than the 80 asked for by --epochs 80; give more time with --minutes"):
        plan.retrain_seconds(epoch_s=2.0, min_epochs=80)


def test_fine_tunes_share_what_is_left_so_a_late_run_still_ends_on_time():
    now = time.time()
    after = TAIL_MARGIN * (EXPORT_S + 50)  # the steps still to come, at the reference pace, with the margin
    on_plan = TimePlan(600, now - 400, pace=1.0)  # 200 s left
    assert on_plan.finetune_seconds(EXPORT_S + 50, 2) == pytest.approx((200 - after) / 2, abs=1.0)
    assert on_plan.finetune_seconds(EXPORT_S + 50, 1) == pytest.approx(200 - after, abs=1.0)
    # twice slower: the fixed costs still to come take twice as long, the fine-tunes get what remains
    slow = TimePlan(600, now - 400, pace=2.0)
    assert slow.finetune_seconds(EXPORT_S + 50, 2) == pytest.approx((200 - 2 * after) / 2, abs=1.0)
    late = TimePlan(600, now - 590, pace=2.0)  # past its fixed costs already: the loop's one epoch, no negative budget
    assert late.finetune_seconds(EXPORT_S + 50, 2) == 1.0


def test_a_short_plan_cuts_the_fine_tunes_before_the_retrain():
    plan = TimePlan(600, time.time() - 400, pace=1.0)  # 200 s left: 152 s for the retrain and the fine-tunes
    retrain_s = 200 - TRAIN_OVERHEAD_S - TAIL_S
    epoch_s = 0.8 * retrain_s / MIN_RETRAIN_EPOCHS  # 15 epochs fit, 15 + 8 do not
    assert plan.retrain_seconds(epoch_s, ft_epochs=8, ft_floor=2) == pytest.approx(retrain_s - 2 * epoch_s, abs=1.0)
    assert plan.retrain_seconds(epoch_s / 4, ft_epochs=8, ft_floor=2) == pytest.approx(retrain_s - 2 * epoch_s, abs=1.0)
    with pytest.raises(TooSlow, match="fewer than the 15"):
        plan.retrain_seconds(epoch_s, ft_epochs=8, ft_floor=8)


def test_a_retrain_from_the_search_trials_weights_counts_their_epochs():
    plan = TimePlan(600, time.time() - 400, pace=1.0)
    retrain_s = 200 - TRAIN_OVERHEAD_S - TAIL_S
    epoch_s = retrain_s / 10  # ten epochs fit
    with pytest.raises(TooSlow, match="fewer than the 15 a useful result needs; give"):
        plan.retrain_seconds(epoch_s)
    with pytest.raises(TooSlow, match="fewer than the 11 a useful result needs after the 4 it trained in the search"):
        plan.retrain_seconds(epoch_s, warm_epochs=4)
    assert plan.retrain_seconds(epoch_s, warm_epochs=6) == pytest.approx(retrain_s, abs=1.0)
