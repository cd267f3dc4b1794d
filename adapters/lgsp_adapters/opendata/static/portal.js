// The portal's page: it reads everything through the CKAN Action API, and
// draws its chart as SVG itself (no network loads beyond this site).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const FREQUENCIES = {
  DAILY: "Hằng ngày / Daily", WEEKLY: "Hằng tuần / Weekly", MONTHLY: "Hằng tháng / Monthly",
  QUARTERLY: "Hằng quý / Quarterly", ANNUAL: "Hằng năm / Annual",
};

async function act(name, params) {
  const r = await fetch(`/api/3/action/${name}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(params || {}),
  });
  const body = await r.json();
  if (!body.success) throw new Error(JSON.stringify(body.error));
  return body.result;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- the search page ---------------------------------------------------------

async function searchPage() {
  const params = new URLSearchParams(location.search);
  const q = params.get("q") || "";
  const fq = [];
  for (const field of ["organization", "groups"]) {
    if (params.get(field)) fq.push(`${field}:"${params.get(field)}"`);
  }
  document.getElementById("q").value = q;
  const result = await act("package_search", {
    q, fq: fq.join(" AND "), rows: 50, "facet.field": ["organization", "groups"],
    sort: q ? "score desc, metadata_modified desc" : "name asc",
  });
  document.getElementById("count").textContent =
    `${result.count} bộ dữ liệu / ${result.count} dataset${result.count === 1 ? "" : "s"}`;
  const list = document.getElementById("results");
  list.replaceChildren(...result.results.map((p) => el("li", { class: "result", "data-name": p.name },
    el("h3", {}, el("a", { href: `/dataset/${p.name}` }, p.title)),
    el("p", { class: "en" }, (p.title_translated || {}).en || ""),
    el("p", {}, p.organization.title),
    el("p", {}, ...p.resources.map((r) => el("span", { class: "format" }, r.format))))));
  for (const field of ["organization", "groups"]) {
    const facet = result.search_facets[field] || { items: [] };
    document.getElementById(`facet-${field}`).replaceChildren(...facet.items.map((item) => {
      const next = new URLSearchParams(params);
      const active = params.get(field) === item.name;
      if (active) next.delete(field); else next.set(field, item.name);
      return el("li", {}, el("a", { href: `/dataset?${next}`, class: active ? "active" : "", "data-facet": item.name },
        `${item.display_name} (${item.count})`));
    }));
  }
}

// -- the dataset page --------------------------------------------------------------

function extra(pkg, key) {
  const found = (pkg.extras || []).find((e) => e.key === key);
  return found ? found.value : "";
}

function sums(records, x, y, keep) {
  const out = new Map();
  for (const r of records) {
    if (keep && !keep(r)) continue;
    const v = r[y];
    if (v === null || v === undefined) continue; // suppressed cells are not drawn
    out.set(r[x], (out.get(r[x]) || 0) + Number(v));
  }
  return new Map([...out.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
}

function drawBars(root, series, opts) {
  const width = 760, height = 300, left = 70, bottom = 60, top = 20;
  const keys = [...series.keys()];
  const max = Math.max(1, ...series.values());
  const step = (width - left - 10) / Math.max(1, keys.length);
  const plot = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": opts.label });
  plot.append(svg("text", { x: 4, y: 14, "font-size": 11 }, opts.yLabel));
  keys.forEach((k, i) => {
    const v = series.get(k);
    const h = (height - bottom - top) * v / max;
    const x = left + i * step;
    const bar = svg("rect", { class: "bar", x: x + 2, y: height - bottom - h, width: Math.max(1, step - 4), height: h,
      "data-key": k, "data-value": v });
    bar.append(svg("title", {}, `${k}: ${v.toLocaleString("vi-VN")}`));
    plot.append(bar);
    if (keys.length <= 40 || i % Math.ceil(keys.length / 40) === 0) {
      plot.append(svg("text", { x: x + step / 2, y: height - bottom + 14, "font-size": 10, "text-anchor": "end",
        transform: `rotate(-45 ${x + step / 2} ${height - bottom + 14})` }, k));
    }
  });
  if (opts.rate) {
    const points = keys.map((k, i) => [k, i]).filter(([k]) => opts.rate.has(k));
    const y = (r) => top + (height - bottom - top) * (1 - r);
    const path = points.map(([k, i], j) => `${j ? "L" : "M"}${left + i * step + step / 2},${y(opts.rate.get(k))}`).join(" ");
    if (path) plot.append(svg("path", { class: "rate", d: path }));
    for (const [k, i] of points) {
      const c = svg("circle", { class: "point", cx: left + i * step + step / 2, cy: y(opts.rate.get(k)), r: 3, "data-key": k });
      c.append(svg("title", {}, `${k}: ${(opts.rate.get(k) * 100).toFixed(1)} %`));
      plot.append(c);
    }
  }
  root.replaceChildren(plot);
}

function drawPyramid(root, records, spec) {
  const men = sums(records, spec.x, spec.y, (r) => r[spec.split] === "Nam");
  const women = sums(records, spec.x, spec.y, (r) => r[spec.split] === "Nữ");
  const bands = [...new Set([...men.keys(), ...women.keys()])].sort().reverse();
  const width = 760, row = 18, height = bands.length * row + 40, mid = width / 2;
  const max = Math.max(1, ...men.values(), ...women.values());
  const scale = (mid - 50) / max;
  const plot = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Tháp dân số / Population pyramid" });
  plot.append(svg("text", { x: mid - 60, y: 14, "font-size": 12, "text-anchor": "end" }, "Nam / Male"));
  plot.append(svg("text", { x: mid + 60, y: 14, "font-size": 12 }, "Nữ / Female"));
  bands.forEach((band, i) => {
    const y = 24 + i * row;
    if (men.has(band)) {
      const w = men.get(band) * scale;
      plot.append(svg("rect", { class: "bar", x: mid - 25 - w, y, width: w, height: row - 3, "data-key": `${band} Nam` }));
    }
    if (women.has(band)) {
      const w = women.get(band) * scale;
      plot.append(svg("rect", { class: "bar nu", x: mid + 25, y, width: w, height: row - 3, "data-key": `${band} Nữ` }));
    }
    plot.append(svg("text", { x: mid, y: y + row - 6, "font-size": 10, "text-anchor": "middle" }, band));
  });
  root.replaceChildren(plot);
}

async function chart(pkg) {
  const spec = JSON.parse(extra(pkg, "chart") || "{}");
  const resource = pkg.resources.find((r) => r.datastore_active);
  if (!resource || !spec.kind) return;
  const { records } = await act("datastore_search", { resource_id: resource.id, limit: 32000 });
  const root = document.getElementById("chart");
  const caption = document.getElementById("chart-caption");
  if (spec.kind === "pyramid") {
    drawPyramid(root, records, spec);
    caption.textContent = "Dân số theo nhóm tuổi và giới tính / Population by age group and gender";
  } else if (spec.kind === "months") {
    const num = sums(records, spec.x, spec.rate_num, (r) => r[spec.rate_den] !== null && r[spec.rate_num] !== null);
    const den = sums(records, spec.x, spec.rate_den, (r) => r[spec.rate_den] !== null && r[spec.rate_num] !== null);
    const rate = new Map([...den.entries()].filter(([, d]) => d > 0).map(([k, d]) => [k, num.get(k) / d]));
    drawBars(root, sums(records, spec.x, spec.y), { label: "Hồ sơ theo tháng", yLabel: "Hồ sơ / Dossiers", rate });
    caption.textContent = "Hồ sơ tiếp nhận theo tháng (cột) và tỷ lệ đúng hạn (đường) / Dossiers per month (bars) and on-time rate (line)";
  } else if (spec.kind === "bars") {
    drawBars(root, sums(records, spec.x, spec.y), { label: "Diện tích theo mục đích", yLabel: "m²" });
    caption.textContent = "Diện tích theo ký hiệu mục đích sử dụng đất / Area by land-use code";
  } else {
    drawBars(root, sums(records, spec.x, spec.y), { label: "Lượt trao đổi theo ngày", yLabel: "Lượt / Exchanges" });
    caption.textContent = "Lượt trao đổi theo ngày / Exchanges per day";
  }
}

async function datasetPage() {
  const name = decodeURIComponent(location.pathname.split("/")[2]);
  const pkg = await act("package_show", { id: name });
  document.title = `${pkg.title} — Cổng dữ liệu mở tỉnh Đồng Tháp`;
  const t = pkg.title_translated || {}, n = pkg.notes_translated || {};
  document.getElementById("title").textContent = t.vi || pkg.title;
  document.getElementById("title-en").textContent = t.en || "";
  document.getElementById("notes").textContent = n.vi || pkg.notes;
  document.getElementById("notes-en").textContent = n.en || "";
  document.getElementById("organization").textContent = pkg.organization.title;
  document.getElementById("groups").textContent = pkg.groups.map((g) => g.display_name).join(", ");
  document.getElementById("license").replaceChildren(el("a", { href: pkg.license_url, rel: "license" }, pkg.license_title));
  const freq = extra(pkg, "frequency");
  document.getElementById("frequency").textContent = FREQUENCIES[freq.split("/").pop()] || freq;
  document.getElementById("modified").textContent = pkg.metadata_modified;
  document.getElementById("resources").replaceChildren(...pkg.resources.map((r) =>
    el("li", { class: "resource", "data-id": r.id }, el("span", { class: "format" }, r.format), r.name, " ",
      el("a", { href: r.url, class: "download", download: "" }, "Tải về / Download"))));
  document.getElementById("ttl").href = `/dataset/${pkg.name}.ttl`;
  document.getElementById("jsonld").href = `/dataset/${pkg.name}.jsonld`;
  await chart(pkg);
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  const run = page === "dataset" ? datasetPage : searchPage;
  run().then(() => { document.body.dataset.ready = "true"; }).catch((e) => {
    document.querySelector("main").prepend(el("p", { class: "error", role: "alert" }, String(e)));
  });
  const form = document.getElementById("search");
  if (form) form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const params = new URLSearchParams(location.search);
    params.set("q", document.getElementById("q").value);
    location.search = params.toString();
  });
});
