"""POST/GET/DELETE /v1/datasets: formats told by content, the inspection, and every refusal."""
from __future__ import annotations

import io
import json
import zipfile

import geopandas as gpd
import pytest

from api import models as m
from api.uploads import sniff

from servicekit import check, make_client, osm_extract, upload


def test_upload_gpkg_inspects(dataset):
    assert dataset.summary.buildings == 44 and dataset.summary.households == 2988
    assert dataset.summary.crs == "EPSG:4326"
    assert dataset.summary.barriers_by_tier == {"1": 4, "2": 4, "3": 28}
    assert dataset.summary.communities is None
    assert dataset.files["buildings"].format == "gpkg" and set(dataset.files) == {"buildings", "barriers"}
    w, s, e, n = dataset.summary.bbox
    assert 118 < w < e < 119 and 31 < s < n < 33


def test_upload_says_what_gridplan_inspect_says(dataset, sample_files):
    from gridplan.planning.inspect import inspect_inputs

    ins = inspect_inputs(gpd.read_file(sample_files["buildings"]), gpd.read_file(sample_files["barriers"]))
    s = dataset.summary
    assert s.buildings_by_type == ins.buildings_by_type and sum(s.buildings_by_type.values()) == 44
    assert s.households_by_source == ins.households_by_source == {"field": 2988}
    assert s.household_source == ins.buildings_by_source == {"field": 44}
    assert (s.compounds, s.buildings_in_compounds) == (ins.compounds, ins.buildings_in_compounds) and s.compounds > 0
    assert s.work_crs == ins.work_crs and s.work_crs.startswith("WGS 84 / UTM")
    assert s.ranges == {"community": "1000:3000", "grid": "300:500", "micro": "30:100"}
    # 44 buildings: under the size guard, so the fenced-in pieces were looked for
    assert s.feasibility_checked and [p.model_dump() for p in s.fenced_pieces] == ins.fenced_pieces
    assert s.fenced_pieces and all(p.reasons and p.households >= 0 for p in s.fenced_pieces)
    assert s.oversized_building_count == len(ins.oversized_buildings) > 0
    assert s.oversized_buildings[0].households == max(o["households"] for o in ins.oversized_buildings)
    assert all(o.outcome for o in s.oversized_buildings)


def test_feasibility_is_skipped_past_the_size_guard(tmp_path, sample_files):
    with make_client(tmp_path / "data", feasibility_max_buildings=10) as c:
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
    assert ds.summary.feasibility_checked is False and ds.summary.fenced_pieces is None
    assert ds.summary.buildings == 44 and ds.summary.buildings_by_type and ds.summary.oversized_building_count > 0


def test_datasets_inspected_before_the_new_fields_still_validate():
    old = {"buildings": 1, "households": 5, "household_source": {"field": 1}, "barriers": 0,
           "barriers_by_tier": {"1": 0, "2": 0, "3": 0}, "communities": None, "crs": "EPSG:4326", "crs_name": "WGS 84",
           "bbox": [0, 0, 1, 1], "notes": [], "warnings": []}
    ins = m.Inspection.model_validate(old)
    assert ins.feasibility_checked is False and ins.fenced_pieces is None and ins.buildings_by_type == {}


def test_get_dataset(client, dataset):
    got = check(client.get(f"/v1/datasets/{dataset.id}"), 200, m.Dataset)
    assert got == dataset


def test_upload_geojson_and_zipped_shapefile_with_communities(client, sample_files, tmp_path):
    b = gpd.read_file(sample_files["buildings"])
    gj = tmp_path / "buildings.json"
    b.to_file(gj, driver="GeoJSON")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gpd.read_file(sample_files["barriers"]).to_file(shp_dir / "roads.shp", engine="pyogrio")
    z = tmp_path / "roads.dat"  # the name says nothing: the content does
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in shp_dir.iterdir():
            zf.write(part, part.name)
    ds = upload(client, {"buildings": gj, "barriers": z, "communities": sample_files["communities"]},
                id_field="building_id", estimate="missing")
    assert ds.files["buildings"].format == "geojson" and ds.files["barriers"].format == "zip"
    assert ds.summary.communities == 1 and ds.summary.barriers == 36 and ds.options.estimate == "missing"


def test_upload_osm_estimates_households_and_takes_barriers_from_it(client, tmp_path):
    path = tmp_path / "extract.xml"
    path.write_text(osm_extract(), encoding="utf-8")
    ds = upload(client, {"buildings": path})
    assert ds.files["buildings"].format == "osm"
    assert ds.summary.buildings == 2 and ds.summary.households > 0
    assert ds.summary.household_source.get("estimate", 0) + ds.summary.household_source.get("levels", 0) >= 0
    assert ds.summary.barriers_by_tier["3"] == 1  # the residential street, from the same extract
    assert any("estimated" in w for w in ds.summary.warnings)


@pytest.mark.parametrize("content", [b"%PDF-1.7 not a map", b"\x00\x01\x02garbage", b"SQLite format 3\x00" + b"\x00" * 100])
def test_unknown_content_is_415_naming_the_field(client, content):
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", content)}), 415)
    assert body.errors[0].field == "buildings" and "GeoPackage" in body.detail


def test_empty_file_and_missing_buildings_are_422(client):
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", b"")}), 422)
    assert "empty" in body.detail
    body = check(client.post("/v1/datasets", files={"barriers": ("r.gpkg", b"{}")}), 422)
    assert body.errors[0].field == "buildings"


def test_bad_form_field_is_422_naming_it(client, sample_files):
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())},
                             data={"estimate": "guess"}), 422)
    assert [e.field for e in body.errors] == ["estimate"]


def test_invalid_data_lists_every_problem(client, sample_files):
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())},
                             data={"id_field": "osm_id", "estimate": "never", "households_field": "hh"}), 422)
    assert len(body.errors) == 2 and "osm_id" in body.detail and "hh" in body.detail
    body = check(client.post("/v1/datasets", files={"buildings": ("b.json", b'{"type": "FeatureCollection", "features": [')}), 422)
    assert "b.json" in body.detail  # the client's name, never the stored path


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_path_traversal_is_refused(client):
    data = _zip({"../../etc/evil.geojson": b'{"type": "FeatureCollection", "features": []}'})
    body = check(client.post("/v1/datasets", files={"buildings": ("b.zip", data)}), 422)
    assert "'..'" in body.detail


def test_zip_bomb_is_refused(client, data_dir):
    data = _zip({"huge.geojson": b" " * (64 * 1024**2)})
    assert len(data) < 1024**2
    body = check(client.post("/v1/datasets", files={"buildings": ("b.zip", data)}), 422)
    assert "inflate" in body.detail
    assert not list((data_dir / "datasets").glob(".incoming-*"))  # nothing left behind


def test_upload_limit_is_413(tmp_path, sample_files):
    with make_client(tmp_path / "data", max_upload_bytes=50_000) as c:
        body = check(c.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())}), 413)
        assert "limit" in body.detail

        def chunks():  # no Content-Length: the limit holds while streaming
            yield b"--x\r\nContent-Disposition: form-data; name=\"buildings\"; filename=\"b.gpkg\"\r\n\r\n"
            for _ in range(20):
                yield b"\0" * 10_000
        check(c.post("/v1/datasets", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}), 413)


def test_delete_dataset(client, sample_files, data_dir):
    ds = upload(client, {"buildings": sample_files["buildings"]})
    assert (data_dir / "datasets" / ds.id).is_dir()
    assert client.delete(f"/v1/datasets/{ds.id}").status_code == 204
    assert not (data_dir / "datasets" / ds.id).exists()
    check(client.get(f"/v1/datasets/{ds.id}"), 404)
    check(client.delete(f"/v1/datasets/{ds.id}"), 404)


@pytest.mark.parametrize("bad", ["nope", "0" * 32, "../../etc"])
def test_unknown_dataset_is_404(client, bad):
    check(client.get(f"/v1/datasets/{bad}"), 404)


def test_sniff():
    assert sniff(b"\xef\xbb\xbf {\"type\": 1}") == "geojson"
    assert sniff(b"<?xml version='1.0'?>\n<osm version='0.6'>") == "osm"
    assert sniff(b"BZh91AY") == "osm.bz2" and sniff(b"\x1f\x8b\x08\x00") == "osm.gz"
    assert sniff(b"fgb\x03\x00") == "fgb"
    assert sniff(b"SQLite format 3\x00" + b"\x00" * 52 + b"GPKG") == "gpkg"
    assert sniff(json.dumps([1, 2]).encode()) is None


@pytest.mark.parametrize("form, field, named", [
    ({"id_field": "geometry"}, "id_field", "the geometry column"),
    ({"households_field": "building"}, "households_field", "a text column"),
    ({"levels_field": "geometry"}, "levels_field", "the geometry column"),
    ({"id_field": "households"}, "id_field", "a name the plan gives a column of its own"),
])
def test_a_field_naming_the_wrong_column_is_422_naming_the_form_field(client, sample_files, form, field, named):
    # these were accepted, and the plan then failed with "internal error while planning"
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())},
                             data=form), 422)
    (error,) = body.errors
    assert error.field == field and f"buildings: {field} was {form[field]!r}, {named}" in error.message
    assert "--" not in body.detail and "--" not in error.message  # the form field, not the command-line flag


def test_library_problems_name_form_fields_not_command_line_flags(client, sample_files):
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())},
                             data={"id_field": "BID"}), 422)
    assert [e.field for e in body.errors] == ["id_field"]
    assert body.errors[0].message.endswith("name the id column with id_field") and "--" not in body.detail
    assert "`" not in body.detail


def test_a_named_households_field_that_is_absent_is_422_not_an_estimate(client, sample_files):
    body = check(client.post("/v1/datasets", files={"buildings": ("b.gpkg", sample_files["buildings"].read_bytes())},
                             data={"households_field": "hh"}), 422)
    (error,) = body.errors
    assert error.field == "households_field"
    assert error.message.startswith("buildings: households_field was 'hh', which is not a column; did you mean "
                                    "'households'?")
    assert error.message.endswith('or estimate every building\'s households with estimate="all"')
    assert "--" not in body.detail and "`" not in body.detail


def test_the_inspection_names_the_attribute_columns_of_an_upload(client, dataset, sample_files, tmp_path):
    assert dataset.summary.attributes == {"name": "name", "building": "building", "compound_name": "compound_name"}
    assert "(no type column)" not in dataset.summary.buildings_by_type
    zh = gpd.read_file(sample_files["buildings"]).rename(columns={"name": "名称", "building": "建筑类型"})
    zh["地址"] = [f"中山路{i + 1}号" for i in range(len(zh))]
    path = tmp_path / "楼栋.gpkg"
    zh.to_file(path)
    ds = upload(client, {"buildings": path, "barriers": sample_files["barriers"]})
    assert ds.summary.attributes == {"name": "名称", "address": "地址", "building": "建筑类型",
                                     "compound_name": "compound_name"}
    assert ds.summary.buildings_by_type == dataset.summary.buildings_by_type
    assert any(n.startswith("buildings: took the names from column '名称'") for n in ds.summary.notes)
