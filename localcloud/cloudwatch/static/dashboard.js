// Draws each region's CloudWatch dashboard from /api/dashboards with uPlot; refreshes every 3 s.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
const charts = new Map(); // "<region>/<index>" -> {plot, labels, figure}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function regionSection(region) {
  const id = `region-${region.region}`;
  let section = document.getElementById(id);
  if (!section) {
    section = element("section", {id, class: "region", "aria-labelledby": `${id}-title`});
    section.append(
      element("h2", {id: `${id}-title`}, `${region.region}: ${region.dashboard}`),
      element("ul", {class: "alarms", "aria-label": `Alarms in ${region.region}`}),
      element("div", {class: "grid"}),
    );
    document.getElementById("regions").append(section);
  }
  return section;
}

function showAlarms(section, alarms) {
  const list = section.querySelector(".alarms");
  list.replaceChildren(...alarms.map((alarm) => {
    const item = element("li", {title: alarm.reason});
    item.append(element("span", {class: `state state-${alarm.state}`}, alarm.state), alarm.name);
    return item;
  }));
}

function latest(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

function caption(widget) {
  const parts = widget.series
    .map((series) => [series.label, latest(series.values)])
    .filter(([, value]) => value !== null)
    .map(([label, value]) => `${label} ${Number(value.toPrecision(4))}`);
  return parts.length ? `Latest (${widget.stat}): ${parts.join(", ")}` : "No data yet.";
}

function chartOptions(widget, width) {
  return {
    width,
    height: 220,
    series: [{}, ...widget.series.map((series, i) => ({
      label: series.label,
      stroke: PALETTE[i % PALETTE.length],
      width: 2,
      // A period with no datapoint is null: a gap, as CloudWatch draws it, not a line across.
      spanGaps: false,
      points: {show: true, size: 4},
    }))],
    axes: [{}, {size: 60}],
    legend: {show: true, live: false},
  };
}

function showWidget(section, region, widget, index) {
  const key = `${region}/${index}`;
  const data = [widget.timestamps, ...widget.series.map((series) => series.values)];
  const labels = widget.series.map((series) => series.label).join("\u0000");
  const points = widget.series.reduce((sum, s) => sum + s.values.filter((v) => v !== null).length, 0);
  let entry = charts.get(key);
  if (!entry || entry.labels !== labels) {
    const figure = entry ? entry.figure : element("figure", {class: "widget"});
    const id = `chart-${region}-${index}`;
    const chart = element("div", {class: "chart", id, role: "img", "aria-label": widget.title});
    figure.replaceChildren(element("h3", {}, widget.title), chart, element("figcaption"));
    if (!entry) section.querySelector(".grid").append(figure);
    const width = Math.max(300, figure.clientWidth - 24);
    entry = {plot: new uPlot(chartOptions(widget, width), data, chart), labels, figure};
    charts.set(key, entry);
  } else {
    entry.plot.setData(data);
  }
  entry.figure.dataset.points = String(points);
  entry.figure.dataset.title = widget.title;
  entry.figure.querySelector("figcaption").textContent = caption(widget);
}

async function refresh() {
  try {
    const reply = await fetch("api/dashboards", {headers: {accept: "application/json"}});
    const data = await reply.json();
    for (const region of data.regions) {
      const section = regionSection(region);
      showAlarms(section, region.alarms);
      region.widgets.forEach((widget, index) => showWidget(section, region.region, widget, index));
    }
    document.body.dataset.updated = String(data.generated);
  } catch (error) {
    console.error("dashboard refresh failed", error);
  }
}

window.addEventListener("resize", () => {
  for (const entry of charts.values()) {
    entry.plot.setSize({width: Math.max(300, entry.figure.clientWidth - 24), height: 220});
  }
});
refresh();
setInterval(refresh, 3000);
