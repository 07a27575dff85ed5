"""Options: size ranges (parsing, errors that name the option and the fix), PlanConfig validation."""
from __future__ import annotations

import pytest

from gridplan.config import LEVELS, PlanConfig, SizeRange, check_choice
from gridplan.errors import GridplanError, OptionError


@pytest.mark.parametrize(
    ("text", "expected"),
    [("300:500", (300, 500, 400)), ("30:100:50", (30, 100, 50)), ("300,500", (300, 500, 400)),
     ((300, 500), (300, 500, 400)), (["1000", "3000", "2000"], (1000, 3000, 2000)), ("400:400", (400, 400, 400)),
     (" 300 : 500 ", (300, 500, 400))],
)
def test_parse_accepts(text, expected):
    size = SizeRange.parse(text)
    assert (size.lo, size.hi, size.target) == expected
    assert all(isinstance(v, float) for v in (size.lo, size.hi, size.target))


def test_parse_passes_a_size_range_through():
    size = SizeRange(30, 100, 50)
    assert SizeRange.parse(size) is size


@pytest.mark.parametrize("text", ["abc", "300", "300:500:400:450", "300-500", "", "300:500:", ":500"])
def test_parse_errors_name_the_option_echo_the_value_and_say_the_fix(text):
    with pytest.raises(OptionError) as err:
        SizeRange.parse(text, name="grid_size")
    message = str(err.value)
    assert "`grid_size`" in message and repr(text) in message
    assert "MIN:MAX" in message and "e.g. 300:500" in message
    assert isinstance(err.value, ValueError) and isinstance(err.value, GridplanError)


@pytest.mark.parametrize(("lo", "hi"), [(500, 300), (0, 500), (-10, 500), (float("nan"), 500), (300, float("inf"))])
def test_unusable_ranges_say_the_fix(lo, hi):
    with pytest.raises(OptionError, match=r"0 < MIN <= MAX, e\.g\. 300:500"):
        SizeRange(lo, hi)


def test_target_outside_its_range_says_the_fix():
    with pytest.raises(OptionError, match=r"target 200 lies outside its range 30:100; give MIN:MAX:TARGET"):
        SizeRange(30, 100, 200)


@pytest.mark.parametrize("text", ["500:300", "0:500", "30:100:200"])
def test_unusable_parsed_ranges_name_the_option(text):
    with pytest.raises(OptionError, match="grid_size"):
        SizeRange.parse(text, name="grid_size")


def test_contains_is_inclusive_and_str_round_trips():
    size = SizeRange(300, 500)
    assert size.contains(300) and size.contains(500) and size.contains(400)
    assert not size.contains(299.99) and not size.contains(500.01)
    assert SizeRange.parse(str(size)) == size
    assert str(SizeRange(30.5, 100)) == "30.5:100"


def test_plan_config_defaults_follow_the_domain():
    cfg = PlanConfig()
    assert (cfg.community, cfg.grid, cfg.micro) == (SizeRange(1000, 3000, 2000), SizeRange(300, 500, 400), SizeRange(30, 100, 50))
    assert cfg.persons_per_household == 2.62 and cfg.street_code == "000000000" and cfg.seed == 0
    assert [cfg.size(level) for level in LEVELS] == [cfg.community, cfg.grid, cfg.micro]


def test_plan_config_parses_ranges_given_as_text():
    cfg = PlanConfig(grid="250:450", micro=(20, 80, 40))
    assert cfg.grid == SizeRange(250, 450) and cfg.micro == SizeRange(20, 80, 40)


def test_plan_config_names_the_bad_range_option():
    with pytest.raises(OptionError, match="`micro_size` was 'lots'"):
        PlanConfig(micro="lots")


@pytest.mark.parametrize("code", ["32010200", "3201020011", "32010200a", "", " 32010200", "320-10200"])
def test_street_code_must_be_nine_digits(code):
    with pytest.raises(OptionError) as err:
        PlanConfig(street_code=code)
    message = str(err.value)
    assert "`street_code`" in message and repr(code) in message and "9 digits" in message and "'320102001'" in message


def test_street_code_must_be_text():
    with pytest.raises(OptionError, match="`street_code` was 320102001;"):
        PlanConfig(street_code=320102001)


@pytest.mark.parametrize("code", ["３２０１０２００１", "32010200²", "٣٢٠١٠٢٠٠١"])
def test_street_code_must_be_ascii_digits(code):
    with pytest.raises(OptionError):
        PlanConfig(street_code=code)


def test_a_valid_street_code_is_kept():
    assert PlanConfig(street_code="320102001").street_code == "320102001"


@pytest.mark.parametrize("pph", [0, -1.0, float("nan")])
def test_persons_per_household_must_be_positive(pph):
    with pytest.raises(OptionError, match="`persons_per_household`"):
        PlanConfig(persons_per_household=pph)


def test_size_rejects_unknown_levels_listing_the_choices():
    with pytest.raises(OptionError, match=r"`level` was 'block'; expected one of 'community', 'grid', 'micro'"):
        PlanConfig().size("block")


def test_check_choice_accepts_a_choice():
    assert check_choice("level", "grid", LEVELS) is None


def test_with_changes_a_copy_and_validates_again():
    cfg = PlanConfig()
    other = cfg.with_(street_code="320102001", grid="200:400")
    assert other.street_code == "320102001" and other.grid == SizeRange(200, 400)
    assert cfg.street_code == "000000000"  # unchanged
    with pytest.raises(OptionError, match="street_code"):
        cfg.with_(street_code="x")


def test_plan_config_is_frozen():
    with pytest.raises(AttributeError):
        PlanConfig().seed = 3  # type: ignore[misc]


def test_balance_is_one_of_the_choices_and_a_bad_one_lists_them():
    assert PlanConfig().balance == "households" and PlanConfig(balance="population").balance == "population"
    with pytest.raises(OptionError, match=r"`balance` was 'persons'; expected one of 'households', 'population'"):
        PlanConfig(balance="persons")


def test_population_balance_defaults_are_household_defaults_times_pph_rounded_to_tens():
    cfg = PlanConfig(balance="population")
    assert cfg.grid == SizeRange(790, 1310, 1050)
    assert cfg.community == SizeRange(2620, 7860, 5240) and cfg.micro == SizeRange(80, 260, 130)
    assert PlanConfig(balance="population", persons_per_household=3.0).grid == SizeRange(900, 1500, 1200)


def test_population_balance_keeps_a_range_that_was_given():
    cfg = PlanConfig(balance="population", grid="800:1200", micro=SizeRange(60, 200, 100))
    assert cfg.grid == SizeRange(800, 1200) and cfg.micro == SizeRange(60, 200, 100)
    assert cfg.community == SizeRange(2620, 7860, 5240)  # not given: the population default
    assert PlanConfig(grid=None).grid == SizeRange(300, 500, 400)  # None is the default for the balance


def test_default_size_checks_its_choices():
    from gridplan.config import default_size

    with pytest.raises(OptionError, match="`balance` was 'hh'"):
        default_size("grid", "hh")
    with pytest.raises(OptionError, match="`level` was 'block'"):
        default_size("block")
