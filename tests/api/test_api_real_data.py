"""Real data that broke the service (issue 12): OSM XML with a long prolog, gzipped OSM, a declared EPSG CRS,
implausibly large buildings."""
from __future__ import annotations

import bz2
import gzip

import geopandas as gpd
import pytest

from api import models as m
from api.uploads import sniff_file
from gridplan.inputs.formats import PROLOG_BYTES

from servicekit import check, make_client, osm_extract, upload, wait_for


def _with_prolog(size: int, text: str | None = None) -> bytes:
    """The two-building OSM extract with an export wizard's comment of ``size`` bytes before ``<osm``."""
    head, body = (text or osm_extract()).split("\n", 1)
    comment = "<!-- exported by a wizard: " + "x" * max(size - 32, 0) + " -->\n"
    return (head + "\n" + comment + '<?wizard step="2"?>\n' + body).encode()


def _post(client, name: str, content: bytes, **form):
    return client.post("/v1/datasets", files={"buildings": (name, content)}, data=form)


@pytest.mark.parametrize("size", [2_000, 20_000])
@pytest.mark.parametrize("pack, fmt", [(None, "osm"), (gzip.compress, "osm.gz"), (bz2.compress, "osm.bz2")])
def test_osm_with_a_long_prolog_plain_or_compressed_is_read(client, size, pack, fmt):
    content = _with_prolog(size)
    assert content.index(b"<osm") > size > 1_000  # past the 4,096 bytes the sniff used to read (and GDAL's 1 KB)
    ds = check(_post(client, "extract.osm" + ("" if pack is None else "." + fmt.split(".")[1]),
                     content if pack is None else pack(content)), 201, m.Dataset)
    assert ds.files["buildings"].format == fmt
    assert ds.summary.buildings == 2 and ds.summary.barriers_by_tier["3"] == 1  # barriers from the same file


def test_a_prolog_past_the_sniff_bound_is_refused_as_unknown_content(client, tmp_path):
    content = _with_prolog(PROLOG_BYTES + 10_000)
    body = check(_post(client, "extract.osm", content), 415)
    assert body.errors[0].field == "buildings" and ".osm.gz" in body.detail
    path = tmp_path / "big.osm"
    path.write_bytes(content)
    assert sniff_file(path) is None  # read at most PROLOG_BYTES, not to the end


@pytest.mark.parametrize("foreign", ['<!DOCTYPE osm [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
                                     "<OGRVRTDataSource><OGRVRTLayer name='x'><SrcDataSource>/etc/passwd"
                                     "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"])
def test_doctype_entities_and_vrt_stay_refused_after_a_long_prolog_and_inside_gzip(client, data_dir, foreign):
    head, body = _with_prolog(20_000).split(b"<osm", 1)
    content = head + foreign.encode() + b"\n<osm" + body
    check(_post(client, "extract.osm", content), 415)
    refused = check(_post(client, "extract.osm.gz", gzip.compress(content)), 422)
    assert "not OpenStreetMap XML inside" in refused.detail and "/tmp" not in refused.detail
    assert not list((data_dir / "datasets").glob(".incoming-*"))


def test_a_gzip_of_something_else_is_422_and_a_gzip_bomb_stops_at_the_limit(tmp_path, sample_files):
    with make_client(tmp_path / "data", max_uncompressed_bytes=1_000_000) as c:
        body = check(_post(c, "b.gpkg.gz", gzip.compress(sample_files["buildings"].read_bytes())), 422)
        assert "not OpenStreetMap XML inside" in body.detail
        bomb = gzip.compress(_with_prolog(100) + b" " * 5_000_000)
        assert len(bomb) < 50_000
        body = check(_post(c, "extract.osm.gz", bomb), 422)
        assert "decompresses to more than 1,000,000 bytes" in body.detail and "extract.osm.gz" in body.detail
        assert not list((tmp_path / "data" / "datasets").glob(".incoming-*"))


@pytest.fixture(scope="module")
def utm_without_crs(sample_files, tmp_path_factory):
    """The sample buildings in UTM 50N metres, written with no CRS at all; and where they lie in degrees."""
    b = gpd.read_file(sample_files["buildings"])
    path = tmp_path_factory.mktemp("crs") / "utm.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # as a file without a .prj or SRS
        b.to_crs(32650).set_crs(None, allow_override=True).to_file(path)
    return path, b.to_crs(4326).total_bounds


@pytest.mark.parametrize("code", ["EPSG:32650", "32650", "epsg:32650"])
def test_input_crs_declares_an_epsg_code(client, utm_without_crs, code):
    path, bounds = utm_without_crs
    ds = upload(client, {"buildings": path}, input_crs=code)
    assert ds.options.input_crs == code and ds.summary.crs == "EPSG:32650"
    assert ds.summary.bbox == pytest.approx(list(bounds), abs=1e-5)


@pytest.mark.parametrize("code, why", [
    ("EPSG:1", "is not a CRS pyproj knows"), ("0", "is not a CRS pyproj knows"),
    ("EPSG:5773", "not a horizontal CRS"),  # a height system
    ("UTM50", "string should match pattern"), ("EPSG:" + "9" * 30, "at most 32 characters"),
    ("+proj=utm +zone=50", "string should match pattern"),  # never a PROJ string (grid files to fetch)
])
def test_an_unknown_or_unusable_input_crs_is_422_naming_the_field(client, sample_files, data_dir, code, why):
    body = check(_post(client, "b.gpkg", sample_files["buildings"].read_bytes(), input_crs=code), 422)
    assert [e.field for e in body.errors] == ["input_crs"] and why in body.detail, body.detail
    assert "`" not in body.detail
    assert not list((data_dir / "datasets").glob(".incoming-*"))


def test_the_document_states_the_input_crs_pattern(client):
    form = client.get("/openapi.json").json()["components"]["schemas"]["Body_create_dataset"]["properties"]
    assert form["input_crs"]["pattern"] == m.INPUT_CRS_PATTERN and form["input_crs"]["maxLength"] == 32
    assert form["accept_large"] == {"type": "boolean", "title": "Accept Large", "default": False,
                                    "description": form["accept_large"]["description"]}


@pytest.fixture(scope="module")
def tower(sample_files, tmp_path_factory):
    """The sample district with one building of 5,000 households; its id."""
    b = gpd.read_file(sample_files["buildings"])
    b.loc[b.index[0], "households"] = 5_000
    path = tmp_path_factory.mktemp("tower") / "tower.gpkg"
    b.to_file(path)
    return path, str(b["building_id"].iloc[0])


def test_a_5000_household_building_is_422_naming_it_and_accept_large(client, sample_files, tower):
    path, bid = tower
    body = check(client.post("/v1/datasets", files={"buildings": ("tower.gpkg", path.read_bytes()),
                                                    "barriers": ("r.gpkg", sample_files["barriers"].read_bytes())}), 422)
    (error,) = body.errors
    assert error.field == "accept_large" and f"{bid} (5,000)" in error.message
    assert error.message.endswith("plan them as they are with accept_large=true") and "--" not in body.detail


def test_accept_large_takes_it_and_its_plans_plan_it(client, sample_files, tower):
    path, bid = tower
    ds = upload(client, {"buildings": path, "barriers": sample_files["barriers"]}, accept_large="true")
    assert ds.options.accept_large is True and ds.summary.households > 5_000
    assert any("accepted" in n and bid in n for n in ds.summary.notes), ds.summary.notes
    accepted = check(client.post("/v1/plans", json={"dataset_id": ds.id, "seed": 1}), 202, m.PlanAccepted)
    plan = wait_for(client, accepted.id)
    assert plan.status == "done", plan.reason  # the plan reads the dataset with accept_large too
    assert plan.figures.households == ds.summary.households


def test_datasets_read_before_accept_large_still_validate():
    old = {"id_field": "building_id", "households_field": "households", "units_field": "units",
           "levels_field": "levels", "compound_field": "compound", "estimate": "auto", "input_crs": "gcj02",
           "fix_geometry": False}
    assert m.ReadOptions.model_validate(old).accept_large is False
