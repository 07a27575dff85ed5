"""Messages name Python parameters in backticks; the CLI and the API word them as options and request fields."""
from __future__ import annotations

import pytest

from gridplan.config import PlanConfig, SizeRange
from gridplan.errors import InputError, OptionError, for_api, for_cli, params_in, plural
from gridplan.inputs.validate import prepare


def test_for_cli_words_parameters_as_options():
    msg = ("`households_field` was 'hh'; name it with `households_field`, pass `estimate='missing'`, "
           "`fix_geometry=True`, `barriers=None`, `input_crs='EPSG:32650'` or `layer='my layer'`")
    assert for_cli(msg) == ("--households-field was 'hh'; name it with --households-field, pass --estimate missing, "
                            "--fix-geometry, without --barriers, --input-crs EPSG:32650 or --layer 'my layer'")
    assert for_cli("`accept_large=True`; `key`", {"accept_large": "--accept-large-buildings", "key": "--ledger-key"}) \
        == "--accept-large-buildings; --ledger-key"


def test_for_api_words_parameters_as_fields_and_never_options():
    msg = "pass `estimate='missing'`, `fix_geometry=True` or `barriers=None`; repair them (--fix-geometry)"
    assert for_api(msg) == 'pass estimate="missing", fix_geometry=true or barriers=null; repair them'
    assert for_api("pass --allow-any-format (allow_any_format=True)") == "pass allow_any_format=True"


def test_text_in_backticks_that_is_not_a_parameter_is_kept():
    msg = "convert it with `ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`"
    assert for_cli(msg) == msg and for_api(msg) == msg and params_in(msg) == ()


def test_errors_carry_the_parameters_they_name(buildings):
    with pytest.raises(InputError) as info:
        prepare(buildings, households_field="hh", id_field="BID")
    assert info.value.params == ("id_field", "households_field", "estimate")
    with pytest.raises(OptionError) as info:
        PlanConfig(grid=SizeRange.parse("500:300", name="grid_size"))
    assert info.value.params == ("grid_size",) and for_cli(str(info.value)).startswith("--grid-size was '500:300'")


@pytest.mark.parametrize(("n", "word", "text"), [
    (0, "community", "0 communities"), (1, "community", "1 community"), (2, "file", "2 files"),
    (1, "file", "1 file"), (20498, "household", "20,498 households"), (1.5, "storey", "1.5 storeys"),
    (3, "box", "3 boxes"), (2, "key", "2 keys"),
])
def test_plural(n, word, text):
    assert plural(n, word) == text
