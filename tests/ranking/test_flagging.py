"""Choosing the flagging rule: an explicit option wins over the profile's threshold."""
from __future__ import annotations

import numpy as np

from audit.ranking.flagging import choose_flagging


def test_rule_precedence_and_flags():
    scores, ranks = np.array([3.0, 2.0, 1.0, np.nan]), np.array([1, 2, 3, 0])
    assert choose_flagging(None, None, None, 1.5, 3).flags(scores, ranks).tolist() == [True, True, False, False]
    assert choose_flagging(2.5, None, None, 1.5, 3).flags(scores, ranks).tolist() == [True, False, False, False]
    top = choose_flagging(None, None, 0.5, 1.5, 3)
    assert top.top_k == 2 and top.flags(scores, ranks).tolist() == [True, True, False, False]
    none = choose_flagging(None, None, None, None, 3)
    assert not none.flags(scores, ranks).any() and none.how.startswith("none")
