"""Change rules as Python tests: what a regime author relies on when declaring `change = ...`."""
from __future__ import annotations

import pytest

from scraper import Differs, Moved, Scraper
from scraper.core.sourcevector import Instance


class _Scraper:
    threshold = 0.5
    limit = 2


def judge(rule, old: dict, new: dict, scraper=_Scraper()) -> bool:
    return rule.python(scraper)(Instance(old), Instance(new))


def test_moved_is_strictly_more_than_the_threshold_named_by_by():
    rule = Moved(["a", "b"], by="threshold")
    assert not judge(rule, {"a": 1.0, "b": 2.0}, {"a": 1.5, "b": 1.5})  # exactly 0.5: unchanged
    assert judge(rule, {"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.6})
    assert judge(Moved("a", by="limit"), {"a": 0}, {"a": 3}) and not judge(Moved("a", by=5), {"a": 0}, {"a": 3})


@pytest.mark.parametrize("rule", [Moved(["a"]), Differs(["a"])], ids=repr)
def test_null_is_data_null_against_a_value_is_changed_null_against_null_is_not(rule):
    assert judge(rule, {"a": None}, {"a": 1.0})
    assert judge(rule, {"a": 1.0}, {"a": None})
    assert not judge(rule, {"a": None}, {"a": None})


def test_differs_sees_any_difference_and_rules_combine():
    either = Moved("v", by="threshold") | Differs("pw")
    both = Moved("v", by="threshold") & Differs("pw")
    quiet, moved, switched = {"v": 1.0, "pw": 1}, {"v": 2.0, "pw": 1}, {"v": 1.0, "pw": 0}
    assert [judge(either, quiet, x) for x in (quiet, moved, switched)] == [False, True, True]
    assert [judge(both, quiet, x) for x in (quiet, moved, switched, {"v": 2.0, "pw": 0})] == [False, False, False, True]
    assert (either | Differs("x")).columns() == ("v", "pw", "x")  # flattened, each column once
    assert repr(either) == "Moved(['v'], by='threshold') | Differs(['pw'])"


def test_a_by_that_is_not_a_number_says_which_attribute():
    class Odd:
        threshold = "0.5"

    with pytest.raises(TypeError, match=r"Odd.threshold is '0.5', not a number"):
        Moved("a").python(Odd())


def test_a_scraper_with_a_rule_offers_it_and_a_free_form_changed_does_not():
    class Ruled(Scraper):
        change = Moved("a")

    class FreeForm(Ruled):
        def changed(self, sv):
            return True

    assert Ruled.change is not None and Ruled.rule(object.__new__(Ruled)) is Ruled.change
    assert FreeForm.rule(object.__new__(FreeForm)) is None  # judged in Python, no SQL form
    assert Scraper.rule(object.__new__(Scraper)) is None
