"""Errors in API terms: every parameter the library's messages name is a request field or has the API's wording,
no message speaks command line or Python, bad JSON names the field the client sent, plan reasons and warnings
are worded for the API."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from servicekit import check, make_client

from api import models as m
from api.db import PlanRecord, utcnow
from api.errors import API_WORDS, for_the_api

LIBRARY = Path(__file__).resolve().parents[2] / "gridplan"
#: not served: the command line, and the sample generator (no endpoint calls it)
NOT_SERVED = {"cli", "sample"}
#: the errors a client reads (the others are 500s whose words only the log has)
ANSWERED = {"InputError", "OptionError", "InfeasibleError"}
PARAM = re.compile(r"(?<!`)`([a-z_][a-z0-9_]*)(?:=[^`]*)?`(?!`)")
NOT_API = re.compile(r"(?<![\w-])--[a-z]|`|gdf\.|set_crs\(|\b[a-z_]+=(?:True|False|None)\b")


def _text(node: ast.AST) -> str | None:
    """A message's text, each interpolated value shown as ``x``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    return None


def _said(node: ast.AST):
    """The string literals of ``node`` (an f-string as one text)."""
    if (text := _text(node)) is not None:
        yield text
        return
    for child in ast.iter_child_nodes(node):
        yield from _said(child)


def library_messages() -> list[tuple[str, str]]:
    """(where, text) of every message of the served library: the errors a client gets, the problems, notes and
    warnings of its checks."""
    out = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if NOT_SERVED & set(path.relative_to(LIBRARY).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            said = None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                    getattr(node.exc.func, "id", None) in ANSWERED:
                said = node.exc
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                    node.func.attr == "warn" or node.func.attr in ("append", "extend")
                    and re.search(r"problems|warnings|notes", ast.unparse(node.func.value))):
                said = node
            if said is not None:
                out += [(f"{path.relative_to(LIBRARY.parent)}:{node.lineno}", t) for t in _said(said)]
    return out


MESSAGES = library_messages()


def api_fields(doc: dict) -> set[str]:
    """Every name a request of the API can carry: parameters, and the properties of every request body."""
    schemas = doc["components"]["schemas"]
    names = set()
    for item in doc["paths"].values():
        for op in item.values():
            names |= {p["name"] for p in op.get("parameters", [])}
            for content in op.get("requestBody", {}).get("content", {}).values():
                ref = content["schema"].get("$ref", "")
                names |= set(schemas.get(ref.rpartition("/")[2], {}).get("properties", {}))
    return names


@pytest.fixture(scope="module")
def fields(client) -> set[str]:
    return api_fields(client.get("/openapi.json").json())


def test_the_walk_finds_the_messages():
    assert len(MESSAGES) > 120
    names = {n for _, t in MESSAGES for n in PARAM.findall(t)}
    assert {"input_crs", "households_field", "accept_large", "fix_geometry", "count", "street_code"} <= names


def test_every_parameter_the_library_names_is_a_field_or_worded_for_the_api(fields):
    named = {}
    for where, text in MESSAGES:
        for name in PARAM.findall(text):
            # `{name}`: a name the caller gives (check_choice("estimate", …)), not one to check here; `{level}_size`
            # becomes community_size, grid_size or micro_size, fields all three
            if name != "x" and not (name.startswith("x_") and all(f"{lv}{name[1:]}" in fields for lv in ("community", "grid", "micro"))):
                named.setdefault(name, where)
    worded = {key.partition("=")[0] for key in API_WORDS}
    unknown = {name: where for name, where in named.items() if name not in fields and name not in worded}
    assert unknown == {}, f"name these in API_WORDS (api/errors.py): {unknown}"
    assert {"dataset_id", "seed", "community_count", "input_crs", "accept_large", "bbox", "limit"} <= fields
    for key, words in API_WORDS.items():  # what names another field names a real one (itself: a column, kept)
        field = re.fullmatch(r"([a-z_][a-z0-9_]*)(?:=.*)?", words)
        if words == key:
            continue
        assert field is None or field.group(1) in fields, (key, words)


@pytest.mark.parametrize(("where", "text"), MESSAGES, ids=[w for w, _ in MESSAGES])
def test_library_messages_read_in_api_terms(where, text):
    said = for_the_api(text)
    assert not NOT_API.search(said), said


@pytest.mark.parametrize(("text", "said"), [
    ("`count` was 40; the feasible totals are 30–36", "community_count was 40; the feasible totals are 30–36"),
    ("`community_count` was 3 with `redistrict='keep'`", 'community_count was 3 with redistrict="none"'),
    ("give each street office its own --street-code", "give each street office its own street_code"),
    ("pass --accept-large-buildings (accept_large=True)", "pass accept_large=true"),
    ("name it with id_field= (--id-field)", "name it with id_field"),
    ("pick one with layer=<name> (or --layer)", "pick one with an upload of that layer alone"),
    ("or pass barriers=None if there are none", "or pass no barriers if there are none"),
    ("write it again with `gridplan plan --out`", "write it again with POST /v1/plans"),
])
def test_for_the_api(text, said):
    assert for_the_api(text) == said


@pytest.mark.parametrize(("body", "fields_named", "says"), [
    ([1, 2], ["body"], "the body is an array"),
    ("x", ["body"], "the body is a string"),
    (None, ["body"], "no body"),
    ({"seed": "x"}, ["seed", "dataset_id"], 'seed was "x"'),
    ({"dataset_id": "d", "seed": -1}, ["seed"], "seed was -1"),
    ({"dataset_id": "d", "sede": 1}, ["sede"], "sede is not a field"),
    ({"dataset_id": "d", "community_size": "5:3"}, ["community_size"], "community_size was '5:3'"),
    ({"dataset_id": ["d"]}, ["dataset_id"], 'dataset_id was ["d"]'),
])
def test_bad_json_names_the_field_sent(client, body, fields_named, says):
    resp = client.post("/v1/plans", json=body) if body is not None else client.post("/v1/plans")
    err = check(resp, 422)
    assert [e.field for e in err.errors] == fields_named
    assert says in err.detail and not NOT_API.search(err.detail) and "Value error" not in err.detail
    assert all(not e.field.isdigit() for e in err.errors)


def test_broken_json_is_400_naming_the_body(client):
    err = check(client.post("/v1/plans", content=b"[1,2", headers={"content-type": "application/json"}), 400)
    assert [e.field for e in err.errors] == ["body"] and "not valid JSON" in err.detail


@pytest.mark.parametrize(("level", "code", "says"), [
    ("communities", "999999999999", "has no community '999999999999'"),
    ("grids", "999999999999", "has no grid '999999999999' (a grid code has 15 digits)"),
    ("micro_grids", "999999999999999", "has no micro-grid '999999999999999' (a micro-grid code has 18 digits)"),
])
def test_unknown_codes_name_the_unit(client, done_plan, level, code, says):
    err = check(client.get(f"/v1/plans/{done_plan.id}/{level}", params={"code": code}), 404)
    assert says in err.detail and "communitie " not in err.detail and err.errors[0].field == "code"


def test_plan_reasons_and_warnings_are_worded_for_the_api(tmp_path):
    with make_client(tmp_path / "data") as c:
        with c.app.state.service.sessions() as s:
            s.add(PlanRecord(id="f" * 32, dataset_id="d" * 32, status="failed", created_at=utcnow(), steps=0,
                             parameters=m.PlanParameters().model_dump(mode="json"),
                             reason="`count` was 40: the feasible totals are 30–36; ask for one of those",
                             warnings=["40 communities under one street code; give each its own --street-code",
                                       "no households column; name your own counts with `households_field`"]))
            s.commit()
        plan = check(c.get("/v1/plans/" + "f" * 32), 200, m.Plan)
        assert plan.reason == "community_count was 40: the feasible totals are 30–36; ask for one of those"
        assert plan.warnings == ["40 communities under one street code; give each its own street_code",
                                 "no households column; name your own counts with households_field"]
        assert check(c.get("/v1/plans"), 200, m.PlanList).items[0].reason == plan.reason


def test_an_upload_of_several_layers_says_what_to_send(client, sample_files, tmp_path):
    two = tmp_path / "two.gpkg"
    buildings = gpd.read_file(sample_files["buildings"])
    pyogrio.write_dataframe(buildings, two, layer="buildings")
    pyogrio.write_dataframe(buildings.head(3), two, layer="more", append=True)
    with two.open("rb") as f:
        err = check(client.post("/v1/datasets", files={"buildings": ("two.gpkg", f)}), 422)
    assert "2 layers" in err.detail and "an upload of that layer alone" in err.detail
    assert not NOT_API.search(err.detail) and "layer=" not in err.detail
