/* gridplan review map: draws the plan embedded in <script id="gridplan-data"> with Leaflet (inlined).
   No network is needed unless a tile basemap is chosen. The Tianditu key is never in this file: it is
   read from the address (map.html#tk=KEY) or from this browser's storage, where the panel's box puts it. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("gridplan-data").textContent);
  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.5, maxZoom: 20 });
  var renderer = L.canvas({ padding: 0.3 });
  L.control.scale({ imperial: false }).addTo(map);

  function decodeRing(flat) {
    var out = [], x = 0, y = 0;
    for (var i = 0; i < flat.length; i += 2) {
      x += flat[i]; y += flat[i + 1];
      out.push([y / D.scale, x / D.scale]);
    }
    return out;
  }
  function decode(polys) {
    return polys.map(function (rings) { return rings.map(decodeRing); });
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }

  // ---- basemaps -------------------------------------------------------------------------------
  var bases = {};
  var none = L.layerGroup();
  bases["No basemap 无底图"] = none;
  var tdtLayers = [];
  function tiandituKey() {
    var m = /(?:^|[#&])tk=([0-9A-Za-z]+)/.exec(window.location.hash || "");
    if (m) return m[1];
    try { return window.localStorage.getItem("gridplan.tiandituKey") || ""; } catch (e) { return ""; }
  }
  function tdtUrl(layer, key) {
    return "https://t{s}.tianditu.gov.cn/DataServer?T=" + layer + "&x={x}&y={y}&l={z}&tk=" + key;
  }
  if (D.basemap === "osm") {
    bases["OpenStreetMap"] = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19, attribution: "&copy; OpenStreetMap contributors" });
  } else if (D.basemap === "tianditu") {
    var key = tiandituKey();
    var vec = L.tileLayer(tdtUrl("vec_w", key), { subdomains: "01234567", maxZoom: 18, attribution: "天地图 Tianditu" });
    var cva = L.tileLayer(tdtUrl("cva_w", key), { subdomains: "01234567", maxZoom: 18 });
    tdtLayers = [vec, cva];
    bases["天地图 Tianditu"] = L.layerGroup(tdtLayers);
  }
  var firstBase = D.basemap === "none" ? none : bases[Object.keys(bases)[1]];
  firstBase.addTo(map);

  // ---- unit layers ------------------------------------------------------------------------------
  // parts of divided buildings are hatched: a canvas pattern as the fill (/ whole entrances, \ upper floors only)
  function hatch(upper) {
    var tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    var c = tile.getContext("2d");
    c.fillStyle = upper ? "#ffffff" : "#e0e0e0";
    c.fillRect(0, 0, 8, 8);
    c.strokeStyle = "#444444"; c.lineWidth = 1.2; c.beginPath();
    [[0, 8, 8, 0], [-1, 1, 1, -1], [7, 9, 9, 7]].forEach(function (s) {
      c.moveTo(upper ? 8 - s[0] : s[0], s[1]); c.lineTo(upper ? 8 - s[2] : s[2], s[3]);
    });
    c.stroke();
    return c.createPattern(tile, "repeat");
  }
  var hatches = [hatch(false), hatch(true)];
  function partTip(layer, u) {
    return "<b>" + esc(layer.title) + "</b><br>" + esc(u.t) + "<br>building 楼栋: " + esc(u.c) +
      "<br>households 户数: " + esc(u.h) + (u.u ? "<br>upper floors only 仅上部楼层" : "") +
      "<br>community / grid / micro-grid 社区/网格/微网格:<br>" + u.codes.map(esc).join(" / ");
  }
  var overlays = {}, labelSets = [], allBounds = null;
  D.layers.forEach(function (layer) {
    var group = L.featureGroup();
    var labels = [];
    layer.units.forEach(function (u) {
      var style = {
        renderer: renderer, color: layer.stroke, weight: layer.weight, dashArray: layer.dash || null,
        fill: layer.fill > 0, fillOpacity: layer.fill, fillColor: D.classes[u.k] ? D.classes[u.k].colour : "#999999"
      };
      if (layer.buildings) style.fill = false;
      if (layer.changed) { style.color = "#e7298a"; style.fill = false; }
      if (layer.parts) {
        style.fillColor = hatches[u.u ? 1 : 0];
        if (u.u) { style.dashArray = "4 3"; style.weight = layer.weight + 0.5; }
      }
      var poly = L.polygon(decode(u.g), style);
      var tip = layer.parts ? partTip(layer, u) : layer.buildings ? "<b>" + esc(layer.title) + "</b><br>" + esc(u.c) +
        (u.n ? " " + esc(u.n) : "") + "<br>households 户数: " + esc(u.h) + "<br>micro-grid 微网格: " + esc(u.codes[0]) : "<b>" + esc(layer.title) + "</b><br>code 编码: " + esc(u.c) +
        (u.n ? "<br>name 名称: " + esc(u.n) : "") +
        "<br>households 户数: " + esc(u.h) + " (" + esc(layer.range) + ", " + esc(D.classes[u.k] ? D.classes[u.k].label : u.k) + ")" +
        "<br>buildings 楼栋: " + esc(u.b) + (u.p ? "<br>parts 分部楼栋: " + esc(u.p) : "") +
        (u.x ? "<br><b>changed 变更</b>: " + esc(u.x) : "");
      poly.bindTooltip(tip, { sticky: true });
      poly.on("mouseover", function () { poly.setStyle({ weight: style.weight + 3, color: "#ffcc00" }); });
      poly.on("mouseout", function () { poly.setStyle({ weight: style.weight, color: style.color }); });
      poly.addTo(group);
      u.poly = poly;
      if (layer.labelZoom !== null && u.l) labels.push({ at: L.latLng(u.l[1], u.l[0]), text: u.c.slice(-layer.labelDigits) });
    });
    (layer.labels || []).forEach(function (l) { labels.push({ at: L.latLng(l[1], l[0]), text: l[2] }); });
    var labelLayer = L.layerGroup();
    labelSets.push({ group: group, labels: labels, layer: labelLayer, zoom: layer.labelZoom, css: layer.key });
    overlays[layer.title] = group;
    layer.group = group;
    if (layer.show && !layer.minZoom) group.addTo(map);
    if (layer.minZoom) { layer.wanted = layer.show; layer.onMap = false; }
    if (layer.units.length) {
      var b = group.getBounds();
      allBounds = allBounds ? allBounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
    }
  });
  var control = L.control.layers(Object.keys(bases).length > 1 ? bases : {}, overlays, { collapsed: false }).addTo(map);

  // buildings: only from their zoom on; the layer control's box says whether they are wanted
  var zoomGated = D.layers.filter(function (l) { return l.minZoom; }), gating = false;
  function gate() {
    gating = true;
    zoomGated.forEach(function (l) {
      var on = l.wanted && map.getZoom() >= l.minZoom;
      if (on && !map.hasLayer(l.group)) l.group.addTo(map);
      if (!on && map.hasLayer(l.group)) map.removeLayer(l.group);
    });
    gating = false;
  }
  map.on("overlayadd overlayremove", function (e) {
    if (gating) return;
    zoomGated.forEach(function (l) { if (l.group === e.layer) { l.wanted = e.type === "overlayadd"; } });
    gate();
  });
  map.on("zoomend", gate);
  // fills: only the finest level shown is filled (the others outlined), so fills never stack into unlisted colours
  function fills() {
    var levels = D.layers.filter(function (l) { return l.level; });
    var top = null;
    levels.forEach(function (l) { if (map.hasLayer(l.group)) top = l; });
    levels.forEach(function (l) {
      l.units.forEach(function (u) { u.poly.setStyle({ fill: l === top && l.fill > 0 }); });
    });
  }
  map.on("overlayadd overlayremove", fills);

  // labels: only for a layer that is on, at its zoom, inside the view, at most 400 at a time; a label whose box
  // overlaps a control (panel, legend, search) or a label of a higher level (community > grid > micro-grid) is hidden
  var rank = { community: 0, grid: 1, micro: 2, parts: 3 };
  function overlaps(a, b) { return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom; }
  function declutter() {
    var kept = [];
    document.querySelectorAll(".leaflet-control").forEach(function (c) { kept.push(c.getBoundingClientRect()); });
    var seen = {};
    labelSets.slice().sort(function (a, b) { return (rank[a.css] === undefined ? 9 : rank[a.css]) - (rank[b.css] === undefined ? 9 : rank[b.css]); })
      .forEach(function (set) {
        set.layer.eachLayer(function (m) {
          var el = m.getElement(); if (!el) return;
          el.classList.remove("gp-hidden");
          var r = el.getBoundingClientRect(), key = el.textContent + "@" + Math.round(r.left) + "," + Math.round(r.top);
          if (seen[key] || kept.some(function (k) { return overlaps(r, k); })) { el.classList.add("gp-hidden"); return; }
          seen[key] = 1; kept.push(r);
        });
      });
  }
  function drawLabels() {
    var view = map.getBounds().pad(0.1), z = map.getZoom();
    labelSets.forEach(function (set) {
      set.layer.clearLayers();
      if (set.zoom === null || z < set.zoom || !map.hasLayer(set.group)) { map.removeLayer(set.layer); return; }
      var n = 0;
      for (var i = 0; i < set.labels.length && n < 400; i++) {
        var lab = set.labels[i];
        if (!view.contains(lab.at)) continue;
        L.marker(lab.at, { interactive: false, keyboard: false,
          icon: L.divIcon({ className: "gp-label gp-label-" + set.css, html: esc(lab.text), iconSize: null }) }).addTo(set.layer);
        n++;
      }
      set.layer.addTo(map);
    });
    declutter();
  }
  map.on("zoomend moveend overlayadd overlayremove", drawLabels);

  // ---- search: building id / name, unit code / name -> fit its bounds and highlight it ---------------
  var index = [];
  D.layers.forEach(function (l) {
    if (!l.level && !l.buildings) return;
    l.units.forEach(function (u) { index.push({ l: l, u: u, key: (u.c + " " + (u.n || "")).toLowerCase() }); });
  });
  var lit = null;
  function show(hit) {
    if (lit) { lit.poly.setStyle({ color: lit.color, weight: lit.weight }); }
    if (hit.l.minZoom) { hit.l.wanted = true; }
    if (!map.hasLayer(hit.l.group)) hit.l.group.addTo(map);
    map.fitBounds(hit.u.poly.getBounds(), { maxZoom: Math.max(hit.l.minZoom || 0, 17) });
    gate();
    lit = { poly: hit.u.poly, color: hit.u.poly.options.color, weight: hit.u.poly.options.weight };
    hit.u.poly.setStyle({ color: "#00e5ff", weight: 4 });
    hit.u.poly.bringToFront();
    document.body.setAttribute("data-gridplan-found", hit.u.c);
  }
  // exact codes first, else up to 10 whose code or name holds the text
  function find(q) {
    q = q.trim().toLowerCase();
    if (!q) return [];
    var exact = index.filter(function (h) { return h.u.c.toLowerCase() === q; });
    return exact.length ? exact : index.filter(function (h) { return h.key.indexOf(q) >= 0; }).slice(0, 10);
  }
  var search = L.control({ position: "topright" });
  search.onAdd = function () {
    var div = L.DomUtil.create("div", "gp-box gp-search");
    div.innerHTML = '<input type="search" placeholder="search 搜索: building 楼栋 / code 编码 / name 名称"><div class="gp-hits"></div>';
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var input = div.querySelector("input"), hits = div.querySelector(".gp-hits");
    input.addEventListener("input", function () {
      hits.innerHTML = "";
      find(input.value).forEach(function (h) {
        var row = L.DomUtil.create("div", "", hits);
        row.textContent = h.l.title + ": " + h.u.c + (h.u.n ? " " + h.u.n : "");
        row.addEventListener("click", function () { show(h); });
      });
    });
    input.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { var f = find(input.value); if (f.length) show(f[0]); } });
    return div;
  };
  search.addTo(map);
  window.gridplanSearch = function (q) { var f = find(q); if (f.length) show(f[0]); return f.length; };
  window.gridplanMap = map;

  // ---- legend and report panel ---------------------------------------------------------------------
  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "gp-box gp-legend");
    var rows = Object.keys(D.classes).map(function (k) {
      var c = D.classes[k];
      return '<div><span class="gp-swatch" style="background:' + c.colour + '"></span>' + esc(c.label) + "</div>";
    }).join("");
    var parts = D.layers.some(function (l) { return l.parts; });
    div.innerHTML = "<b>households vs target 户数偏差</b>" + rows +
      (D.compare ? '<div><span class="gp-swatch" style="background:none;border:2px solid #e7298a"></span>changed 变更</div>' : "") +
      (parts ? '<div><span class="gp-swatch gp-hatch"></span>part of a divided building 分拆楼栋部分</div>' +
        '<div><span class="gp-swatch gp-hatch-upper"></span>upper floors only (dashed) 仅上部楼层</div>' : "") +
      '<div><span class="gp-swatch" style="background:none;border:1px solid #444;opacity:1"></span>building (zoom 16+) 楼栋</div>' +
      '<div class="gp-note">' + esc(D.targets) + "</div>";
    return div;
  };
  legend.addTo(map);
  var panel = L.control({ position: "topleft" });
  panel.onAdd = function () {
    var div = L.DomUtil.create("div", "gp-box gp-panel");
    div.innerHTML = D.panel;
    var det = div.querySelector("details");
    if (det) det.addEventListener("toggle", drawLabels);
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var form = div.querySelector("#gp-tdt");
    if (form) {
      if (tiandituKey()) form.style.display = "none";
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var k = form.querySelector("input").value.trim();
        try { window.localStorage.setItem("gridplan.tiandituKey", k); } catch (e) { /* private mode */ }
        tdtLayers.forEach(function (t, i) { t.setUrl(tdtUrl(i ? "cva_w" : "vec_w", k)); });
        form.style.display = "none";
      });
    }
    return div;
  };
  panel.addTo(map);

  if (allBounds) map.fitBounds(allBounds); else map.setView([32.04, 118.78], 12);
  gate();
  fills();
  drawLabels();
  document.body.setAttribute("data-gridplan-ready", "1");
})();
