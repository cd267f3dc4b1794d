"""What the portal publishes: the five datasets, each fed by one warehouse
service. Each definition is an allow-list: only the columns named here
leave the warehouse (anything else its answer holds is dropped), with the
rules of their suppression (:mod:`.deidentify`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Row = dict[str, object]
FieldType = Literal["text", "int", "numeric", "date", "bool"]
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
THEME = "http://publications.europa.eu/resource/authority/data-theme/"


@dataclass(frozen=True)
class Column:
    """One published column: its DataStore type, and what kind of value it is.
    A ``count`` below the threshold is suppressed; a ``derived`` value (a rate,
    an average, an area) is null whenever one of the counts it is computed
    from is."""

    id: str
    type: FieldType
    label_vi: str
    label_en: str
    kind: Literal["key", "count", "derived"] = "key"
    from_counts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Organization:
    name: str
    title: str
    title_en: str
    description: str


@dataclass(frozen=True)
class Group:
    name: str
    title: str
    title_en: str
    theme: str  # the EU data-theme code


@dataclass(frozen=True)
class Dataset:
    """One published dataset and the service it comes from."""

    name: str
    service: str
    title_vi: str
    title_en: str
    notes_vi: str
    notes_en: str
    organization: str
    groups: tuple[str, ...]
    frequency: str  # a DCAT-AP frequency code (MONTHLY, DAILY, ...)
    tags: tuple[str, ...]
    columns: tuple[Column, ...]
    relations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Totals within a row: (total, parts) with total = sum(parts)."""
    groups_of_cells: tuple[tuple[tuple[str, ...], str], ...] = ()
    """Cells whose sum over rows sharing these keys may be known elsewhere
    (key columns, count column): one suppressed cell alone in a group is
    protected by a second one."""
    aggregate: Callable[[Sequence[Row]], list[Row]] | None = None
    """Rows of the service turned into published rows (before the allow-list)."""
    chart: dict[str, str] = field(default_factory=dict)

    @property
    def column_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.columns)


SUPPRESSED = "bi_an"
"""The marker column: true when a cell of the row was suppressed (bị ẩn)."""

ORGANIZATIONS = (
    Organization(
        "van-phong-ubnd-tinh-dong-thap",
        "Văn phòng UBND tỉnh Đồng Tháp",
        "Office of the Đồng Tháp Provincial People's Committee",
        "Runs the provincial one-stop shop for administrative procedures.",
    ),
    Organization(
        "so-nong-nghiep-va-moi-truong-dong-thap",
        "Sở Nông nghiệp và Môi trường tỉnh Đồng Tháp",
        "Đồng Tháp Department of Agriculture and Environment",
        "Keeps the land database (cơ sở dữ liệu đất đai).",
    ),
    Organization(
        "cong-an-tinh-dong-thap",
        "Công an tỉnh Đồng Tháp",
        "Đồng Tháp Provincial Police",
        "Gives the province's figures of the national population database.",
    ),
    Organization(
        "so-khoa-hoc-va-cong-nghe-dong-thap",
        "Sở Khoa học và Công nghệ tỉnh Đồng Tháp",
        "Đồng Tháp Department of Science and Technology",
        "Runs the province's data-sharing platform (LGSP).",
    ),
)

GROUPS = (
    Group("gove", "Chính phủ và khu vực công", "Government and public sector", "GOVE"),
    Group(
        "agri",
        "Nông nghiệp, thủy sản, lâm nghiệp và thực phẩm",
        "Agriculture, fisheries, forestry and food",
        "AGRI",
    ),
    Group("envi", "Môi trường", "Environment", "ENVI"),
    Group("soci", "Dân số và xã hội", "Population and society", "SOCI"),
    Group("tech", "Khoa học và công nghệ", "Science and technology", "TECH"),
)


def _exchanges_per_service_and_day(rows: Sequence[Row]) -> list[Row]:
    """The per-client rows summed per day and service: no client column."""
    sums: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        key = (str(row.get("ngay")), str(row.get("service")))
        total = sums.setdefault(key, [0, 0])
        total[0] += int(row.get("soLuot") or 0)  # type: ignore[call-overload]
        total[1] += int(row.get("soLoi") or 0)  # type: ignore[call-overload]
    return [
        {"ngay": day, "service": service, "soLuot": n, "soLoi": errors}
        for (day, service), (n, errors) in sorted(sums.items())
    ]


def _commune(vi: str = "Mã xã", en: str = "Commune code") -> tuple[Column, Column]:
    return (
        Column("maXa", "text", vi, en),
        Column("tenXa", "text", "Tên xã", "Commune name"),
    )


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="ho-so-thu-tuc-hanh-chinh-theo-thang",
        service="warehouse.dossiers.monthly",
        title_vi="Hồ sơ thủ tục hành chính theo tháng, thủ tục và xã",
        title_en="Administrative procedure dossiers by month, procedure and commune",
        notes_vi="Số hồ sơ tiếp nhận, đã giải quyết (đúng hạn, trễ hạn), đang giải quyết, "
        "quá hạn, từ chối hoặc rút, và tỷ lệ giải quyết đúng hạn, theo thủ tục hành chính, "
        "xã và tháng tiếp nhận, từ hệ thống một cửa điện tử của tỉnh.",
        notes_en="Dossiers received, done (on time, late), in processing, overdue, refused "
        "or withdrawn, and the on-time rate, by administrative procedure, commune and "
        "month of receipt, from the province's one-stop-shop system.",
        organization="van-phong-ubnd-tinh-dong-thap",
        groups=("gove",),
        frequency="MONTHLY",
        tags=("thủ tục hành chính", "một cửa", "dịch vụ công", "public services"),
        columns=(
            Column("thang", "text", "Tháng tiếp nhận", "Month of receipt"),
            Column("maTTHC", "text", "Mã thủ tục", "Procedure code"),
            Column("tenTTHC", "text", "Tên thủ tục", "Procedure name"),
            *_commune(),
            Column("soHoSo", "int", "Số hồ sơ tiếp nhận", "Dossiers received", "count"),
            Column("soDaGiaiQuyet", "int", "Đã giải quyết", "Done", "count"),
            Column("soDungHan", "int", "Đúng hạn", "Done on time", "count"),
            Column("soTreHan", "int", "Trễ hạn", "Done late", "count"),
            Column("soDangGiaiQuyet", "int", "Đang giải quyết", "In processing", "count"),
            Column("soQuaHan", "int", "Quá hạn", "Overdue", "count"),
            Column("soTuChoiHoacRut", "int", "Từ chối hoặc rút", "Refused or withdrawn", "count"),
            Column(
                "tyLeDungHan",
                "numeric",
                "Tỷ lệ đúng hạn",
                "On-time rate",
                "derived",
                ("soDungHan", "soDaGiaiQuyet"),
            ),
            Column(
                "soNgayTreTrungBinh",
                "numeric",
                "Số ngày trễ trung bình",
                "Average working days late",
                "derived",
                ("soTreHan",),
            ),
        ),
        relations=(
            ("soDaGiaiQuyet", ("soDungHan", "soTreHan")),
            ("soHoSo", ("soDaGiaiQuyet", "soDangGiaiQuyet", "soTuChoiHoacRut")),
        ),
        # The national public service portal publishes per-procedure figures.
        groups_of_cells=((("thang", "maTTHC"), "soHoSo"),),
        chart={
            "kind": "months",
            "x": "thang",
            "y": "soHoSo",
            "rate_num": "soDungHan",
            "rate_den": "soDaGiaiQuyet",
        },
    ),
    Dataset(
        name="thua-dat-theo-muc-dich-su-dung",
        service="warehouse.parcels.land-use",
        title_vi="Thửa đất và diện tích theo xã và mục đích sử dụng",
        title_en="Land parcels and area by commune and land-use code",
        notes_vi="Số thửa đất và tổng diện tích (m²) theo xã và ký hiệu mục đích sử dụng "
        "đất, từ cơ sở dữ liệu đất đai của tỉnh.",
        notes_en="Number of parcels and total area (m²) by commune and land-use code, "
        "from the province's land database.",
        organization="so-nong-nghiep-va-moi-truong-dong-thap",
        groups=("agri", "envi"),
        frequency="MONTHLY",
        tags=("đất đai", "sử dụng đất", "land use"),
        columns=(
            *_commune(),
            Column("kyHieu", "text", "Ký hiệu mục đích sử dụng", "Land-use code"),
            Column("soThua", "int", "Số thửa", "Parcels", "count"),
            Column("dienTich", "numeric", "Diện tích (m²)", "Area (m²)", "derived", ("soThua",)),
        ),
        groups_of_cells=((("maXa",), "soThua"),),
        chart={"kind": "bars", "x": "kyHieu", "y": "dienTich"},
    ),
    Dataset(
        name="dan-so-theo-nhom-tuoi-va-gioi-tinh",
        service="warehouse.population.age-groups",
        title_vi="Dân số theo xã, nhóm tuổi và giới tính",
        title_en="Population by commune, age group and gender",
        notes_vi="Số người thường trú theo xã, nhóm tuổi năm năm và giới tính, từ cơ sở "
        "dữ liệu quốc gia về dân cư.",
        notes_en="Permanent residents by commune, five-year age group and gender, from the "
        "national population database.",
        organization="cong-an-tinh-dong-thap",
        groups=("soci",),
        frequency="ANNUAL",
        tags=("dân số", "dân cư", "population"),
        columns=(
            *_commune(),
            Column("nhomTuoi", "text", "Nhóm tuổi", "Age group"),
            Column("gioiTinh", "text", "Giới tính", "Gender"),
            Column("soNguoi", "int", "Số người", "Residents", "count"),
        ),
        # A commune's population is published elsewhere (statistics yearbooks).
        groups_of_cells=((("maXa",), "soNguoi"),),
        chart={"kind": "pyramid", "x": "nhomTuoi", "y": "soNguoi", "split": "gioiTinh"},
    ),
    Dataset(
        name="luot-trao-doi-du-lieu-lgsp-theo-ngay",
        service="warehouse.exchanges.daily",
        title_vi="Lượt trao đổi dữ liệu qua LGSP theo dịch vụ và ngày",
        title_en="Data exchanges through the LGSP by service and day",
        notes_vi="Số lượt trao đổi và số lỗi qua nền tảng chia sẻ, tích hợp dữ liệu của "
        "tỉnh (LGSP), theo dịch vụ và ngày, cộng gộp mọi hệ thống gọi.",
        notes_en="Exchanges and errors through the province's data-sharing platform (LGSP), "
        "by service and day, summed over every calling system.",
        organization="so-khoa-hoc-va-cong-nghe-dong-thap",
        groups=("tech",),
        frequency="DAILY",
        tags=("LGSP", "chia sẻ dữ liệu", "data sharing"),
        columns=(
            Column("ngay", "date", "Ngày", "Day"),
            Column("service", "text", "Dịch vụ", "Service"),
            Column("soLuot", "int", "Số lượt", "Exchanges", "count"),
            Column("soLoi", "int", "Số lỗi", "Errors", "count"),
        ),
        groups_of_cells=((("ngay",), "soLuot"),),
        aggregate=_exchanges_per_service_and_day,
        chart={"kind": "days", "x": "ngay", "y": "soLuot"},
    ),
    Dataset(
        name="muc-do-hai-long-ve-thu-tuc-hanh-chinh",
        service="warehouse.feedback.satisfaction",
        title_vi="Mức độ hài lòng của người dân về giải quyết thủ tục hành chính",
        title_en="Citizens' satisfaction with how administrative procedures are handled",
        notes_vi="Số phản hồi khảo sát, số và tỷ lệ người dân hài lòng (4 hoặc 5 trên 5), "
        "điểm trung bình về kết quả, thời gian giải quyết và thái độ phục vụ, theo tháng, "
        "thủ tục hành chính và cơ quan giải quyết, từ khảo sát trên Nền tảng khảo sát, thu "
        "thập ý kiến người dân (VNForm). Không công bố ý kiến góp ý.",
        notes_en="Survey answers, how many citizens were satisfied (4 or 5 out of 5) and "
        "the share, and the average scores of the result, the time taken and the officers' "
        "attitude, by month, administrative procedure and handling agency, from the survey "
        "on the national survey platform (VNForm). No comment is published.",
        organization="van-phong-ubnd-tinh-dong-thap",
        groups=("gove",),
        frequency="MONTHLY",
        tags=("mức độ hài lòng", "khảo sát", "dịch vụ công", "citizen satisfaction"),
        columns=(
            Column("thang", "text", "Tháng", "Month"),
            Column("maTTHC", "text", "Mã thủ tục", "Procedure code"),
            Column("tenTTHC", "text", "Tên thủ tục", "Procedure name"),
            Column("maDonVi", "text", "Mã cơ quan giải quyết", "Handling agency code"),
            Column("soPhanHoi", "int", "Số phản hồi", "Answers", "count"),
            Column("soHaiLong", "int", "Hài lòng", "Satisfied", "count"),
            Column("soChuaHaiLong", "int", "Chưa hài lòng", "Not satisfied", "count"),
            Column(
                "tyLeHaiLong",
                "numeric",
                "Tỷ lệ hài lòng",
                "Share satisfied",
                "derived",
                ("soHaiLong", "soPhanHoi"),
            ),
            *(
                Column(name, "numeric", vi, en, "derived", ("soPhanHoi",))
                for name, vi, en in (
                    ("diemTongThe", "Điểm hài lòng chung", "Average overall score"),
                    ("diemThoiGian", "Điểm thời gian giải quyết", "Average score of the time"),
                    ("diemThaiDo", "Điểm thái độ phục vụ", "Average score of the attitude"),
                )
            ),
        ),
        relations=(("soPhanHoi", ("soHaiLong", "soChuaHaiLong")),),
        groups_of_cells=((("thang", "maTTHC"), "soPhanHoi"),),
        chart={
            "kind": "months",
            "x": "thang",
            "y": "soPhanHoi",
            "rate_num": "soHaiLong",
            "rate_den": "soPhanHoi",
        },
    ),
)

BY_NAME = {d.name: d for d in DATASETS}
