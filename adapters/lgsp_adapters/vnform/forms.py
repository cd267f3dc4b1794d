"""VNForm's survey forms: one per administrative procedure of the demo
one-stop-shop, asking the citizen who received a result how satisfied
they are overall, with the time it took and with the officers' attitude
(1 to 5), and for a comment.

The questions follow the satisfaction surveys provinces run on public
services (the SIPAS index's dimensions: the result, the time taken, the
officers' conduct), in Vietnamese as the citizen reads them. Each form's
fields are FormSG's kinds (``rating``, ``textarea``), which VNForm is
reported to derive from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from lgsp_contracts.feedback import DIEM_HAI_LONG
from lgsp_contracts.onestop import THU_TUC, ThuTuc

FieldType = Literal["rating", "textarea"]
COMMENT_MAX: Final = 1000


@dataclass(frozen=True)
class Question:
    """One field of a form."""

    id: str
    """The field's id (FormSG's ``_id``): what an answer names it by."""
    title: str
    """The question, in Vietnamese."""
    title_en: str
    field_type: FieldType
    required: bool = True

    def as_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "_id": self.id,
            "title": self.title,
            "titleEn": self.title_en,
            "fieldType": self.field_type,
            "required": self.required,
        }
        if self.field_type == "rating":
            shown["ratingOptions"] = {
                "steps": 5,
                "shape": "Star",
                "labels": {str(k): v for k, v in DIEM_HAI_LONG.items()},
            }
        else:
            shown["maxLength"] = COMMENT_MAX
        return shown


SCORES: Final = ("tongThe", "thoiGian", "thaiDo")
"""The rating fields, in the order of the form."""
COMMENT: Final = "gopY"

QUESTIONS: Final[tuple[Question, ...]] = (
    Question(
        "tongThe",
        "Nhìn chung, Ông/Bà hài lòng thế nào với việc giải quyết thủ tục hành chính này?",
        "Overall, how satisfied are you with how this procedure was handled?",
        "rating",
    ),
    Question(
        "thoiGian",
        "Ông/Bà hài lòng thế nào với thời gian giải quyết hồ sơ so với ngày hẹn trả?",
        "How satisfied are you with the time your dossier took against its due date?",
        "rating",
    ),
    Question(
        "thaiDo",
        "Ông/Bà hài lòng thế nào với thái độ, tinh thần phục vụ của cán bộ, công chức?",
        "How satisfied are you with the officers' attitude and helpfulness?",
        "rating",
    ),
    Question(
        COMMENT,
        "Ông/Bà có góp ý gì thêm để cơ quan phục vụ tốt hơn? (không bắt buộc)",
        "Anything else the agency could do better? (optional)",
        "textarea",
        required=False,
    ),
)


@dataclass(frozen=True)
class Form:
    """A survey form of one procedure."""

    id: str
    ma_tthc: str
    ten_tthc: str
    questions: tuple[Question, ...] = QUESTIONS

    @property
    def title(self) -> str:
        return f"Khảo sát mức độ hài lòng: {self.ten_tthc}"

    def summary(self) -> dict[str, object]:
        return {"_id": self.id, "title": self.title, "maTTHC": self.ma_tthc}

    def as_json(self) -> dict[str, object]:
        return {
            **self.summary(),
            "tenTTHC": self.ten_tthc,
            "form_fields": [q.as_json() for q in self.questions],
        }

    def question(self, field_id: str) -> Question:
        return next(q for q in self.questions if q.id == field_id)


def form_id(ma_tthc: str) -> str:
    """The form of a procedure (its national code without an agency suffix)."""
    return f"khao-sat-{ma_tthc[:8]}"


def _form(procedure: ThuTuc) -> Form:
    return Form(form_id(procedure.ma_tthc), procedure.ma_tthc, procedure.ten_tthc)


FORMS: Final[dict[str, Form]] = {f.id: f for f in map(_form, THU_TUC)}
"""Every form, by id: one per procedure the one-stop-shop accepts."""
