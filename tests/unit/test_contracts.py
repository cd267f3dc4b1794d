"""The contracts: examples fit their models exactly, the models are strict,
and every version exports a documented JSON Schema."""

from __future__ import annotations

import itertools
import re
from typing import Any, get_args

import orjson
import pytest
from pydantic import ValidationError

from lgsp_contracts import CATALOGUE
from lgsp_contracts.land import MAX_PAGE_SIZE
from lgsp_contracts.onestop import (
    CAN_GHI_CHU,
    CHUYEN_TRANG_THAI,
    DEMO_DOSSIERS,
    THU_TUC,
    TRANG_THAI_HO_SO,
    HoSo,
    TrangThaiHoSo,
)
from lgsp_contracts.spec import Contract, Example, ServiceContract, TopicContract

SERVICES = [pytest.param(s, id=f"{s.service}-v{s.version}") for s in CATALOGUE.services]
TOPICS = [pytest.param(t, id=f"{t.topic}-v{t.version}") for t in CATALOGUE.topics]
EXAMPLES = [
    pytest.param(s, e, id=f"{s.service}-v{s.version}-{i}")
    for s in CATALOGUE.services
    for i, e in enumerate(s.examples)
]
MODELS = [
    pytest.param(model, id=f"{s.service}-v{s.version}-{kind}")
    for s in CATALOGUE.services
    for kind, model in (("request", s.request), ("response", s.response))
] + [pytest.param(t.payload, id=f"{t.topic}-v{t.version}-payload") for t in CATALOGUE.topics]


def validate(model: type[Contract], data: Any) -> Contract:
    # As the bus does: from the JSON bytes a client sends.
    return model.model_validate_json(orjson.dumps(data))


def error_types(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {e["type"] for e in exc.value.errors()}


def test_the_catalogue_declares_the_demo_province() -> None:
    # The population services are NDXP's suite's to list.
    assert {
        (s.service, s.version)
        for s in CATALOGUE.services
        if s.service.split(".")[0] != "population"
    } == {
        ("land.parcel.lookup", 1),
        ("land.parcel.search", 1),
        ("land.certificate.lookup", 1),
        ("land.parcel.snapshot", 1),
        ("onestop.dossier.submit", 1),
        ("onestop.dossier.status", 1),
        ("onestop.dossier.update-status", 1),
        ("onestop.procedure.list", 1),
        ("onestop.dossier.list", 1),
        ("dvcqg.dossier.sync", 1),
        ("warehouse.dossiers.monthly", 1),
        ("warehouse.parcels.land-use", 1),
        ("warehouse.population.age-groups", 1),
        ("warehouse.exchanges.daily", 1),
        ("warehouse.feedback.satisfaction", 1),
        ("warehouse.sql.query", 1),
        ("lgsp.exchange.statistics", 1),
        ("ndop.access.history", 1),
    }
    assert "population.citizen.lookup" in {s.service for s in CATALOGUE.services}
    assert {(t.topic, t.version) for t in CATALOGUE.topics} == {
        ("onestop.dossier.status-changed", 1),
        ("onestop.feedback.invited", 1),
        ("vnform.feedback.submitted", 1),
    }


# A search, a list or a snapshot page answers an empty list, never a domain error.
NO_DOMAIN_ERROR = {
    "land.parcel.search",
    "land.parcel.snapshot",
    "onestop.procedure.list",
    "onestop.dossier.list",
    # Aggregates filtered by commune or land use: an empty list, not an error.
    "warehouse.parcels.land-use",
    "warehouse.population.age-groups",
}


@pytest.mark.parametrize("contract", SERVICES)
def test_every_service_has_one_to_three_examples_and_4xx_errors(contract: ServiceContract) -> None:
    assert 1 <= len(contract.examples) <= 3
    assert contract.owner
    assert contract.description
    assert bool(contract.errors) == (contract.service not in NO_DOMAIN_ERROR)
    for error in contract.errors:
        assert 400 <= error.status < 500
        assert error.code.startswith(contract.service.split(".")[0] + ".")


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("population.citizen.lookup", "population.citizen.not_found", 404),
        ("land.parcel.lookup", "land.parcel.not_found", 404),
        ("land.certificate.lookup", "land.certificate.not_found", 404),
        ("onestop.dossier.submit", "onestop.procedure.unknown", 404),
        ("onestop.dossier.submit", "onestop.dossier.rejected", 422),
        ("onestop.dossier.status", "onestop.dossier.not_found", 404),
        ("onestop.dossier.update-status", "onestop.dossier.not_found", 404),
        ("onestop.dossier.update-status", "onestop.dossier.illegal_transition", 409),
        ("onestop.dossier.update-status", "onestop.dossier.time_invalid", 422),
        ("onestop.dossier.update-status", "onestop.dossier.reason_required", 422),
    ],
)
def test_the_declared_domain_errors(service: str, code: str, status: int) -> None:
    contract = next(s for s in CATALOGUE.services if s.service == service)
    error = contract.error(code)
    assert error is not None
    assert error.status == status


@pytest.mark.parametrize(("contract", "example"), EXAMPLES)
def test_examples_fit_their_models_exactly(contract: ServiceContract, example: Example) -> None:
    validate(contract.request, example.request)
    response = validate(contract.response, example.response)
    # What a provider returning this model puts on the wire is the example.
    assert orjson.loads(response.model_dump_json()) == example.response


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_examples_fit_their_payload_exactly(topic: TopicContract) -> None:
    assert topic.examples
    for payload in topic.examples:
        assert orjson.loads(validate(topic.payload, payload).model_dump_json()) == payload


@pytest.mark.parametrize(("contract", "example"), EXAMPLES)
def test_unknown_fields_are_refused(contract: ServiceContract, example: Example) -> None:
    for model, data in ((contract.request, example.request), (contract.response, example.response)):
        with pytest.raises(ValidationError) as exc:
            validate(model, {**data, "ghiChuThem": "x"})
        assert error_types(exc) == {"extra_forbidden"}


@pytest.mark.parametrize(("contract", "example"), EXAMPLES)
def test_missing_required_fields_are_refused(contract: ServiceContract, example: Example) -> None:
    for model, data in ((contract.request, example.request), (contract.response, example.response)):
        required = [name for name, f in model.model_fields.items() if f.is_required()]
        # A list's request may have every filter optional; an answer never.
        assert required or model is contract.request
        for name in required:
            with pytest.raises(ValidationError) as exc:
                validate(model, {k: v for k, v in data.items() if k != name})
            assert error_types(exc) == {"missing"}, name


def _mistyped(value: Any) -> Any:
    """A value of the wrong JSON type that a lax parser might coerce."""
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return {"0": value[0]} if value else "[]"
    return "null"


@pytest.mark.parametrize(("contract", "example"), EXAMPLES)
def test_mistyped_values_are_refused(contract: ServiceContract, example: Example) -> None:
    for model, data in ((contract.request, example.request), (contract.response, example.response)):
        for name, value in data.items():
            if value is None:
                continue
            with pytest.raises(ValidationError):
                validate(model, {**data, name: _mistyped(value)})


@pytest.mark.parametrize(
    "bad",
    [
        "08709000123",
        "0870900012345",
        "08709000123a",
        " 087090001234",
        "087 090 001234",
        87090001234,
    ],
)
def test_personal_ids_are_twelve_digits(bad: Any) -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "population.citizen.lookup")
    with pytest.raises(ValidationError):
        validate(contract.request, {**contract.examples[0].request, "soDinhDanh": bad})


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("maXa", "2986"),
        ("maXa", 29869),
        ("soHieuToBanDo", 0),
        ("soHieuToBanDo", "12"),
        ("soThuTuThua", 12.0),
    ],
)
def test_parcel_references_are_checked(field: str, bad: Any) -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "land.parcel.lookup")
    with pytest.raises(ValidationError):
        validate(contract.request, {**contract.examples[0].request, field: bad})


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("maTTHC", "1.4873"),
        ("maTTHC", "TTHC-1"),
        ("ngayTiepNhan", "2025-06-06T09:30:00"),  # no offset
        ("ngayTiepNhan", "06/06/2025"),
        ("soDienThoai", "+84912345678"),
        ("email", "not-an-address"),
    ],
)
def test_dossier_fields_are_checked(field: str, bad: Any) -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "onestop.dossier.submit")
    with pytest.raises(ValidationError):
        validate(contract.request, {**contract.examples[0].request, field: bad})


def test_procedure_codes_suffixed_with_an_agency_code_are_accepted() -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "onestop.dossier.submit")
    for code in ("1.013831.H20", "2.000379.000.00.00.H18"):
        validate(contract.request, {**contract.examples[0].request, "maTTHC": code})


def test_procedure_table() -> None:
    codes = [t.ma_tthc for t in THU_TUC]
    assert len(set(codes)) == len(codes)
    for t in THU_TUC:
        assert re.fullmatch(r"[0-9]\.[0-9]{6}", t.ma_tthc)
        assert t.so_ngay_xu_ly > 0
        assert t.can_thua_dat == (t.linh_vuc == "Đất đai")
    contract = next(s for s in CATALOGUE.services if s.service == "onestop.dossier.submit")
    names = {t.ma_tthc: t.ten_tthc for t in THU_TUC}
    for example in contract.examples:
        assert example.response["tenTTHC"] == names[example.response["maTTHC"]]


def test_dossier_statuses_are_the_portal_codes() -> None:
    assert list(TRANG_THAI_HO_SO) == [str(n) for n in range(1, 11)]
    assert set(get_args(TrangThaiHoSo)) == set(TRANG_THAI_HO_SO)


def test_the_lifecycle_is_domain_md_s() -> None:
    # received 2 -> in processing 4 -> (documents requested 5 <-> 4) -> done 9
    # -> result returned 10; or refused 3 / withdrawn 7 before it is done.
    legal = {(a, b) for a, following in CHUYEN_TRANG_THAI.items() for b in following}
    assert legal == {
        ("2", "4"),
        ("4", "5"),
        ("5", "4"),
        ("4", "9"),
        ("9", "10"),
        *((a, b) for a in ("2", "4", "5") for b in ("3", "7")),
    }
    assert {s for s, following in CHUYEN_TRANG_THAI.items() if not following} == {"3", "7", "10"}
    assert set(CHUYEN_TRANG_THAI) <= set(TRANG_THAI_HO_SO)
    assert set(CAN_GHI_CHU) == {"3", "5"}


def test_the_demo_dossiers_fit_the_model_and_the_lifecycle() -> None:
    numbers = [d["maHoSo"] for d in DEMO_DOSSIERS]
    assert len(set(numbers)) == len(numbers)
    submitted_days = {
        e.request["ngayTiepNhan"][:10]
        for s in CATALOGUE.services
        if s.service == "onestop.dossier.submit"
        for e in s.examples
    }
    for demo in DEMO_DOSSIERS:
        dossier = validate(HoSo, demo)
        assert isinstance(dossier, HoSo)
        assert orjson.loads(dossier.model_dump_json()) == demo
        steps = [s.trangThai for s in dossier.lichSu]
        assert steps[0] == "2"
        assert dossier.trangThai == steps[-1]
        assert dossier.ngayTiepNhan == dossier.lichSu[0].thoiDiem
        times = [s.thoiDiem for s in dossier.lichSu]
        assert times == sorted(times)
        for a, b in itertools.pairwise(steps):
            assert b in CHUYEN_TRANG_THAI[a]
        # Not on a day a submit example uses, so that those keep their numbers.
        assert str(dossier.ngayTiepNhan.date()) not in submitted_days


@pytest.mark.parametrize(
    ("field", "bad"),
    [("trang", 0), ("soBanGhiMoiTrang", 0), ("soBanGhiMoiTrang", MAX_PAGE_SIZE + 1)],
)
def test_search_pages_are_bounded(field: str, bad: int) -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "land.parcel.search")
    with pytest.raises(ValidationError):
        validate(contract.request, {**contract.examples[0].request, field: bad})


@pytest.mark.parametrize("bad", ["DA123456", "da 123456", "DA 12345", "ĐA 123456", "D 1234567"])
def test_certificate_numbers_are_two_letters_and_six_digits(bad: str) -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "land.certificate.lookup")
    with pytest.raises(ValidationError):
        validate(contract.request, {"soPhatHanh": bad})


@pytest.mark.parametrize(
    ("field", "bad"),
    [("trangThai", "11"), ("trangThai", 4), ("ghiChu", ""), ("thoiDiem", "2025-06-03T15:00:00")],
)
def test_status_updates_are_checked(field: str, bad: Any) -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "onestop.dossier.update-status")
    with pytest.raises(ValidationError):
        validate(contract.request, {**contract.examples[0].request, field: bad})


def _undocumented(schema: dict[str, Any]) -> list[str]:
    missing = []
    for where in [schema, *schema.get("$defs", {}).values()]:
        assert where.get("additionalProperties") is False, where.get("title")
        for name, prop in where.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{where.get('title')}.{name}")
    return missing


@pytest.mark.parametrize("model", MODELS)
def test_json_schema_exports_with_every_field_documented(model: type[Contract]) -> None:
    for mode in ("validation", "serialization"):
        schema = model.model_json_schema(mode=mode)
        orjson.dumps(schema)
        assert schema["type"] == "object"
        assert _undocumented(schema) == []


def test_json_schema_tells_the_rules() -> None:
    contract = next(s for s in CATALOGUE.services if s.service == "population.citizen.lookup")
    schema = contract.request.model_json_schema()
    assert schema["properties"]["soDinhDanh"]["pattern"] == "^[0-9]{12}$"
    response = contract.response.model_json_schema(mode="serialization")
    assert response["properties"]["gioiTinh"]["enum"] == ["Nam", "Nữ"]
