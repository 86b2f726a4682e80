// The interaction of a theanine graph page: zoom, pan, search, collapse, details.
// The layout is Graphviz's SVG; the node table is the JSON in #th-data.
// The URL fragment drives it too (tests and links):
// #select=a3&search=exp&collapse=all&zoom=2 (#click=a3 dispatches a click on a node)
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("th-data").textContent);
  const canvas = document.getElementById("th-canvas");
  const svg = canvas.querySelector("svg");
  const panel = document.getElementById("th-panel");
  const status = document.getElementById("th-status");
  const found = document.getElementById("th-found");
  const search = document.getElementById("th-search");

  svg.removeAttribute("width");
  svg.removeAttribute("height");
  const base = svg.viewBox.baseVal;
  const home = { x: base.x, y: base.y, w: base.width, h: base.height };
  let box = Object.assign({}, home);
  function showBox() {
    svg.setAttribute("viewBox", box.x + " " + box.y + " " + box.w + " " + box.h);
  }

  // -- the drawing's pieces -------------------------------------------------
  const nodes = {};           // DOT name -> its SVG group
  svg.querySelectorAll("g.node").forEach(function (g) { nodes[g.id] = g; });
  const edges = Array.from(svg.querySelectorAll("g.edge")).map(function (g) {
    const ends = g.querySelector("title").textContent.split("->");
    return { g: g, from: ends[0].trim(), to: ends[1].trim() };
  });
  const clusters = {};
  svg.querySelectorAll("g.cluster").forEach(function (g) {
    clusters[g.querySelector("title").textContent.trim()] = g;
  });
  const groupsOf = {};        // owner DOT name -> its groups
  data.groups.forEach(function (grp) {
    (groupsOf[grp.owner] = groupsOf[grp.owner] || []).push(grp);
  });

  // -- zoom and pan ------------------------------------------------------------
  function toGraph(evt) {
    const pt = svg.createSVGPoint();
    pt.x = evt.clientX; pt.y = evt.clientY;
    return pt.matrixTransform(svg.getScreenCTM().inverse());
  }
  svg.addEventListener("wheel", function (evt) {
    evt.preventDefault();
    const at = toGraph(evt);
    const factor = evt.deltaY > 0 ? 1.15 : 1 / 1.15;
    box.x = at.x - (at.x - box.x) * factor;
    box.y = at.y - (at.y - box.y) * factor;
    box.w *= factor; box.h *= factor;
    showBox();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", function (evt) {
    drag = { x: evt.clientX, y: evt.clientY, box: Object.assign({}, box) };
    canvas.style.cursor = "grabbing";
  });
  window.addEventListener("mousemove", function (evt) {
    if (!drag) return;
    const scale = box.w / svg.clientWidth;
    box.x = drag.box.x - (evt.clientX - drag.x) * scale;
    box.y = drag.box.y - (evt.clientY - drag.y) * scale;
    showBox();
  });
  window.addEventListener("mouseup", function () { drag = null; canvas.style.cursor = ""; });
  function centreOn(name) {
    const g = nodes[name];
    if (!g) return;
    const r = g.getBoundingClientRect();     // Graphviz nests nodes in a transformed group
    const pt = svg.createSVGPoint();
    pt.x = r.left + r.width / 2; pt.y = r.top + r.height / 2;
    const c = pt.matrixTransform(svg.getScreenCTM().inverse());
    box.x = c.x - box.w / 2;
    box.y = c.y - box.h / 2;
    showBox();
  }
  document.getElementById("th-fit").addEventListener("click", function () {
    box = Object.assign({}, home); showBox();
  });

  // -- collapse / expand ---------------------------------------------------------
  const collapsed = new Set();  // group keys
  function refresh() {
    const hidden = new Set();
    let changed = true;
    while (changed) {          // a group inside a hidden group is hidden with it
      changed = false;
      data.groups.forEach(function (grp) {
        if (!(collapsed.has(grp.key) || hidden.has(grp.owner))) return;
        grp.members.forEach(function (m) {
          if (!hidden.has(m)) { hidden.add(m); changed = true; }
        });
      });
    }
    Object.keys(nodes).forEach(function (name) {
      nodes[name].classList.toggle("th-hidden", hidden.has(name));
      const own = groupsOf[name] || [];
      nodes[name].classList.toggle("th-collapsed",
        own.some(function (grp) { return collapsed.has(grp.key); }));
    });
    edges.forEach(function (e) {
      e.g.classList.toggle("th-hidden", hidden.has(e.from) || hidden.has(e.to));
    });
    data.groups.forEach(function (grp) {
      const g = grp.cluster && clusters[grp.cluster];
      if (g) g.classList.toggle("th-hidden", collapsed.has(grp.key) || hidden.has(grp.owner));
    });
    const shown = Object.keys(nodes).length - hidden.size;
    status.textContent = shown + " of " + Object.keys(nodes).length + " nodes shown";
    document.body.dataset.thShown = String(shown);
  }
  function toggle(owner) {
    const own = groupsOf[owner] || [];
    const anyOpen = own.some(function (grp) { return !collapsed.has(grp.key); });
    own.forEach(function (grp) {
      if (anyOpen) collapsed.add(grp.key); else collapsed.delete(grp.key);
    });
    refresh();
  }
  document.getElementById("th-collapse").addEventListener("click", function () {
    data.groups.forEach(function (grp) { collapsed.add(grp.key); }); refresh();
  });
  document.getElementById("th-expand").addEventListener("click", function () {
    collapsed.clear(); refresh();
  });

  // -- details panel -------------------------------------------------------------
  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function row(label, values) {
    if (values === undefined || values === null) return "";
    const list = Array.isArray(values) ? values : [values];
    if (!list.length) return "";
    return "<dt>" + esc(label) + "</dt>" +
      list.map(function (v) { return "<dd>" + esc(v) + "</dd>"; }).join("");
  }
  function seconds(t) {
    return t >= 1 ? t.toFixed(3) + " s" : t >= 1e-3 ? (t * 1e3).toFixed(3) + " ms"
      : (t * 1e6).toFixed(1) + " \u00b5s";
  }
  let selected = null;
  function select(name) {
    const info = data.nodes[name];
    if (!info) return;
    if (selected && nodes[selected]) nodes[selected].classList.remove("th-selected");
    selected = name;
    if (nodes[name]) nodes[name].classList.add("th-selected");
    let html = "<h3 id=\"th-panel-title\">" + (info.id ? "[id " + esc(info.id) + "] " : "") +
      esc(info.title) + "</h3><dl>";
    if (info.kind === "apply") {
      html += row("op", info.op) + row("step in the schedule", info.step) +
        row("runs", info.lazy) + row("inputs", info.inputs) +
        row("outputs (type and static shape)", info.outputs) +
        row("planned shapes and sizes", info.shapes) + row("memory", info.at_peak) +
        row("built at", info.source.length ? info.source : ["(no user line recorded)"]) +
        row("in place", info.inplace.length ? info.inplace : ["no view or overwrite"]) +
        row("destroy_map", JSON.stringify(info.destroy_map)) +
        row("view_map", JSON.stringify(info.view_map));
      if (info.time !== undefined) {
        html += row("time", seconds(info.time) + " in " + info.calls + " call(s), " +
          (100 * info.share).toFixed(1) + "% of the nodes' time") +
          row("output memory", info.memory);
      }
    } else {
      html += row("type", info.type) + row("role", info.role) + row("value", info.value) +
        row("computed by", info.computed_by);
    }
    html += "</dl>";
    if (groupsOf[name]) {
      html += "<button id=\"th-toggle\">collapse / expand " +
        esc(groupsOf[name].map(function (g) { return g.title; }).join(", ")) + "</button>";
    }
    panel.innerHTML = html;
    const button = document.getElementById("th-toggle");
    if (button) button.addEventListener("click", function () { toggle(name); });
    document.body.dataset.thSelected = name;
  }
  Object.keys(nodes).forEach(function (name) {
    nodes[name].addEventListener("click", function (evt) { evt.stopPropagation(); select(name); });
    nodes[name].addEventListener("dblclick", function (evt) {
      evt.stopPropagation();
      if (groupsOf[name]) toggle(name);
    });
  });

  // -- search ------------------------------------------------------------------
  function find(query) {
    query = query.trim().toLowerCase();
    const hits = [];
    Object.keys(nodes).forEach(function (name) {
      const info = data.nodes[name];
      const hit = query !== "" && info && info.search.indexOf(query) >= 0;
      nodes[name].classList.toggle("th-match", hit);
      if (hit) hits.push(name);
    });
    svg.classList.toggle("th-searching", query !== "");
    found.textContent = query ? hits.length + " match(es)" : "";
    document.body.dataset.thMatches = String(hits.length);
    return hits;
  }
  search.addEventListener("input", function () { find(search.value); });
  search.addEventListener("keydown", function (evt) {
    if (evt.key !== "Enter") return;
    const hits = find(search.value);
    if (hits.length) { centreOn(hits[0]); select(hits[0]); }
  });

  // -- start: count what rendered, then follow the URL fragment ---------------------
  let rendered = 0;
  Object.keys(nodes).forEach(function (name) {
    const b = nodes[name].getBBox();
    if (b.width > 0 && b.height > 0) rendered += 1;
  });
  document.body.dataset.thRendered = String(rendered);
  refresh();
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (params.get("collapse") === "all") {
    data.groups.forEach(function (grp) { collapsed.add(grp.key); }); refresh();
  } else if (params.get("collapse")) {
    toggle(params.get("collapse"));
  }
  if (params.get("search")) { search.value = params.get("search"); find(search.value); }
  if (params.get("zoom")) {
    const factor = Number(params.get("zoom")) || 1;
    box.w /= factor; box.h /= factor; showBox();
  }
  if (params.get("select")) { select(params.get("select")); centreOn(params.get("select")); }
  const clicked = nodes[params.get("click")];   // a real click event, as a user's
  if (clicked) clicked.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  document.body.dataset.thReady = "1";
})();
