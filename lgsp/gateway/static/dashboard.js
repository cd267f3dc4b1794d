// The LGSP dashboard: polls the admin feed every second and updates the
// page in place (no reload). The browser reuses the operator's Basic
// credentials for the feed. Data only ever reaches the page as text nodes.
"use strict";

(function () {
  const FEED = "/v1/admin/dashboard";
  const POLL_MS = 1000;
  const FEED_TIMEOUT_MS = 5000;
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat("en-US");
  const fmt1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  const fmt2 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  let chart = null;

  if (new URLSearchParams(location.search).get("wall") === "1") {
    document.body.classList.add("wall");
  }

  function text(id, value) {
    const el = $(id);
    if (el.textContent !== value) el.textContent = value;
  }

  function cell(value, cls) {
    const td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    return td;
  }

  // Replace a table's body with one row per item; `attrs` names the row
  // (data-* attributes) so a reader, or a test, can find it.
  function rows(tableId, items, columns, empty, attrs) {
    const body = $(tableId).tBodies[0];
    const fresh = document.createDocumentFragment();
    if (items.length === 0) {
      const tr = document.createElement("tr");
      const td = cell(empty, "empty");
      td.colSpan = $(tableId).tHead.rows[0].cells.length;
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    for (const item of items) {
      const tr = document.createElement("tr");
      for (const [key, value] of Object.entries(attrs ? attrs(item) : {})) {
        tr.dataset[key] = value;
      }
      for (const [value, cls] of columns(item)) tr.appendChild(cell(value, cls));
      fresh.appendChild(tr);
    }
    body.replaceChildren(fresh);
  }

  function ms(value) {
    return value === null ? "–" : fmt2.format(value);
  }

  function age(seconds) {
    return seconds < 60 ? `${fmt1.format(seconds)} s` : `${fmt.format(Math.round(seconds / 60))} min`;
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function drawChart(series) {
    const data = [series.t, series.succeeded, series.failed, series.events];
    const el = $("chart");
    if (chart === null) {
      // Axis text grows with the page on a wall screen.
      const font = `${Math.round(12 * (parseFloat(cssVar("--scale")) || 1))}px system-ui, sans-serif`;
      const axis = {
        stroke: cssVar("--fg"),
        font,
        labelFont: font,
        grid: { stroke: cssVar("--line") },
        ticks: { stroke: cssVar("--line") },
      };
      chart = new uPlot(
        {
          width: Math.max(el.clientWidth, 300),
          height: Math.max(el.clientHeight, 240),
          scales: { x: { time: true } },
          legend: { live: false },
          axes: [axis, { ...axis, label: "per second" }],
          series: [
            {},
            { label: "succeeded", stroke: cssVar("--ok"), width: 2 },
            { label: "failed", stroke: cssVar("--bad"), width: 2 },
            { label: "events", stroke: cssVar("--event"), width: 2 },
          ],
        },
        data,
        el,
      );
      new ResizeObserver(() => {
        chart.setSize({ width: Math.max(el.clientWidth, 300), height: chart.height });
      }).observe(el);
    } else {
      chart.setData(data);
    }
    // Seconds with any traffic: how many points the chart shows above zero.
    let points = 0;
    for (let i = 0; i < series.t.length; i++) {
      if (series.succeeded[i] + series.failed[i] + series.events[i] > 0) points++;
    }
    el.dataset.points = String(points);
  }

  function render(d) {
    text("rate", fmt1.format(d.rate));
    text("total", fmt.format(d.totals.exchanges));
    text("failed", fmt.format(d.totals.failed));
    text("events-total", fmt.format(d.totals.events));
    text("transport", `transport: ${d.transport}`);
    text("window", `last ${d.window_s / 60} min`);
    drawChart(d.series);

    rows(
      "services",
      d.services,
      (s) => [
        [s.service],
        [fmt.format(s.calls), "n"],
        [fmt1.format(s.rate), "n"],
        [ms(s.p50_ms), "n"],
        [ms(s.p99_ms), "n"],
        [`${fmt1.format(100 * s.error_rate)} %`, s.error_rate > 0 ? "n bad" : "n"],
      ],
      "no exchanges yet",
      (s) => ({ service: s.service }),
    );
    const errors = [];
    for (const s of d.services) {
      for (const [code, n] of Object.entries(s.errors)) errors.push({ service: s.service, code, n });
    }
    rows(
      "errors",
      errors,
      (e) => [[e.service], [e.code, "bad"], [fmt.format(e.n), "n"]],
      "no errors",
      (e) => ({ service: e.service, code: e.code }),
    );
    rows(
      "clients",
      d.clients,
      (c) => [
        [c.client],
        [fmt.format(c.calls), "n"],
        [fmt.format(c.failed), c.failed ? "n bad" : "n"],
        [fmt1.format(c.rate), "n"],
        [fmt.format(c.total), "n"],
      ],
      "no clients yet",
      (c) => ({ client: c.client }),
    );
    rows(
      "partners",
      d.partners,
      (p) => [
        [p.direction === "to" ? "→ " + p.partner : "← " + p.partner],
        [fmt.format(p.calls), "n"],
        [`${fmt1.format(100 * p.error_rate)} %`, p.error_rate > 0 ? "n bad" : "n"],
        [ms(p.p50_ms), "n"],
        [ms(p.p99_ms), "n"],
      ],
      "no exchange with another province yet",
      (p) => ({ partner: p.partner, direction: p.direction }),
    );
    rows(
      "providers",
      d.providers,
      (p) => [[p.service], [String(p.version), "n"], [p.instance], [age(p.heartbeat_age_s), "n"]],
      "no provider online",
    );
    rows(
      "queues",
      d.queues,
      (q) => [[q.name], [q.kind], [fmt.format(q.messages), q.messages ? "n bad" : "n"], [fmt.format(q.consumers), "n"]],
      "none",
    );
    text("dead-letters", fmt.format(d.dead_letters));

    // What each adapter says of itself (its status hook); an optional
    // boolean "healthy" colours its name.
    rows(
      "adapters",
      d.adapters,
      (a) => [
        [a.adapter, a.status.healthy === false ? "bad" : a.status.healthy === true ? "ok" : ""],
        [
          Object.entries(a.status)
            .filter(([key]) => key !== "healthy")
            .map(([key, value]) => `${key}: ${value}`)
            .join(", "),
        ],
        [a.instance],
        [age(a.age_s), "n"],
      ],
      "no adapter reports a status here",
      (a) => ({ adapter: a.adapter }),
    );
    text("events-published", fmt.format(d.events.published));
    text("events-delivered", fmt.format(d.events.delivered));
    text("events-lagging", fmt.format(d.events.lagging));
  }

  function status(live, detail) {
    const el = $("status");
    el.className = live ? "live" : "stale";
    el.textContent = live ? "live" : "stale";
    text("updated", detail);
  }

  async function poll() {
    try {
      const response = await fetch(FEED, {
        credentials: "same-origin",
        cache: "no-store",
        signal: AbortSignal.timeout(FEED_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`feed answered ${response.status}`);
      render(await response.json());
      status(true, `updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      status(false, String(err.message || err));
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
