// The citizens' data tracker: asks NDOP's /v1/tracker (beside this page)
// and shows the answer. Everything is written with textContent: what the
// LGSPs reported (agency names) is never parsed as HTML.
"use strict";

(() => {
  const PROVINCES = { dongthap: "Đồng Tháp", gialai: "Gia Lai", lamdong: "Lâm Đồng", phutho: "Phú Thọ" };
  const RESULTS = {
    ok: ["Thành công", "Answered"],
    refused: ["Bị từ chối", "Refused"],
    failed: ["Lỗi hệ thống", "Failed"],
  };
  const form = document.getElementById("ask");
  const button = form.querySelector("button");
  const message = document.getElementById("message");
  const result = document.getElementById("result");
  const who = document.getElementById("who");
  const rows = document.querySelector("#accesses tbody");

  function bilingual(vi, en) {
    const english = document.createElement("span");
    english.className = "en";
    english.lang = "en";
    english.textContent = en;
    return [document.createTextNode(vi), english];
  }

  function say(kind, vi, en) {
    message.dataset.kind = kind;
    message.replaceChildren(...bilingual(vi, en));
    message.hidden = false;
  }

  function cell(text, code, className) {
    const td = document.createElement("td");
    td.append(text);
    if (code) {
      const small = document.createElement("span");
      small.className = "code";
      small.textContent = code;
      td.append(small);
    }
    if (className) td.className = className;
    return td;
  }

  function row(access) {
    const tr = document.createElement("tr");
    const when = document.createElement("time");
    when.dateTime = access.thoiDiem;
    when.textContent = new Date(access.thoiDiem).toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh" });
    const [vi, en] = RESULTS[access.ketQua] || [access.ketQua, access.ketQua];
    const outcome = document.createElement("td");
    outcome.className = access.ketQua;
    outcome.dataset.result = access.ketQua;
    outcome.append(...bilingual(vi, en));
    const purpose = access.mucDich === null ? cell("—", "không ghi / not given") : cell(access.mucDich);
    tr.append(
      cell(when),
      cell(access.coQuan, access.maCoQuan),
      cell(PROVINCES[access.tinh] || access.tinh),
      cell(access.dichVu),
      purpose,
      outcome,
    );
    return tr;
  }

  function show(answer) {
    who.textContent = answer.soDinhDanh;
    rows.replaceChildren(...answer.truyCap.map(row));
    result.hidden = false;
    const n = answer.truyCap.length;
    if (n === 0) {
      say("empty", "Chưa có cơ quan nào sử dụng dữ liệu của bạn qua nền tảng.",
        "No agency has used your data through the platform yet.");
    } else {
      say("found", `${n} lượt truy cập, mới nhất trước.`, `${n} uses, newest first.`);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // Whatever comes next, the last person's table does not stay on screen.
    result.hidden = true;
    rows.replaceChildren();
    const body = { soDinhDanh: form.soDinhDanh.value.trim(), ngaySinh: form.ngaySinh.value };
    button.disabled = true;
    let response;
    try {
      response = await fetch("v1/tracker", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      say("error", "Không kết nối được với nền tảng. Vui lòng thử lại.",
        "The platform could not be reached. Please try again.");
      return;
    } finally {
      button.disabled = false;
    }
    if (response.status === 200) {
      show(await response.json());
    } else if (response.status === 404) {
      say("none", "Không có hồ sơ nào khớp với số định danh và ngày sinh này.",
        "No record matches this identification number and date of birth.");
    } else if (response.status === 429) {
      const wait = response.headers.get("Retry-After") || "60";
      say("limited", `Bạn đã tra cứu quá nhiều lần. Vui lòng thử lại sau ${wait} giây.`,
        `Too many attempts. Please try again in ${wait} seconds.`);
    } else if (response.status === 400) {
      say("invalid", "Số định danh gồm 12 chữ số; hãy nhập đủ ngày sinh.",
        "The identification number has 12 digits; enter the full date of birth.");
    } else {
      say("error", "Nền tảng đang gặp sự cố. Vui lòng thử lại sau.",
        "The platform is having trouble. Please try again later.");
    }
  });
})();
