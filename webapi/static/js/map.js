/* Bureau risk map: layer switcher, legend, field boundaries, field card, alert list with filters and export.
   Every server value is inserted with textContent (never innerHTML) so user data stays text. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("map-config").textContent);
  var S = cfg.strings;
  var q = function (id) { return document.getElementById(id); };
  var el = function (tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  var langQ = "lang=" + encodeURIComponent(cfg.lang);
  var runQ = cfg.run ? "run=" + encodeURIComponent(cfg.run) : "";
  var map = L.map("map", { zoomControl: true, attributionControl: true }).setView([35.6, 104.6], 10);
  if (cfg.basemap) { L.tileLayer(cfg.basemap, { maxZoom: 18, attribution: "basemap" }).addTo(map); }
  var overlay = null, fieldsLayer = null, fieldsById = {}, alerts = [];

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }

  function showLegend(layer) {
    var box = q("legend");
    box.replaceChildren();
    layer.legend.forEach(function (entry) {
      var row = el("div", null, "legend-row");
      var sw = el("span", null, "swatch");
      sw.style.background = entry.colour;
      row.appendChild(sw);
      row.appendChild(el("span", cfg.lang === "zh" ? entry.label_zh : entry.label_en));
      box.appendChild(row);
    });
  }

  function selectLayer(layer) {
    if (overlay) map.removeLayer(overlay);
    overlay = L.tileLayer(layer.tiles.replace(/^https?:\/\/[^/]+/, ""), { opacity: 0.75, maxZoom: 20, tileSize: 256 });
    overlay.addTo(map);
    if (fieldsLayer) fieldsLayer.bringToFront();
    showLegend(layer);
  }

  function buildLayers(data) {
    var box = q("layers");
    data.layers.forEach(function (layer, i) {
      var label = el("label");
      var input = document.createElement("input");
      input.type = "radio"; input.name = "layer"; input.value = layer.name;
      input.addEventListener("change", function () { selectLayer(layer); });
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + (cfg.lang === "zh" ? layer.title_zh : layer.title_en)));
      box.appendChild(label);
      if (layer.name === "alert_level" || (i === 0 && !data.layers.some(function (l) { return l.name === "alert_level"; }))) {
        input.checked = true; selectLayer(layer);
      }
    });
  }

  function fmt(v, digits) { return v === null || v === undefined ? S.no_data : Number(v).toFixed(digits); }

  function showCard(fieldId) {
    getJSON("/api/v1/fields/" + encodeURIComponent(fieldId) + "?" + [runQ, langQ].filter(Boolean).join("&")).then(function (d) {
      var card = q("card");
      card.replaceChildren();
      card.hidden = false;
      var h = el("h2", d.field_id);
      card.appendChild(h);
      var dl = el("dl", null, "facts");
      var add = function (k, v) { dl.appendChild(el("dt", k)); dl.appendChild(el("dd", v)); };
      add(S.crop, cfg.crops[d.attributes.crop] || d.attributes.crop);
      add(S.area, fmt(d.attributes.area_ha, 1) + " ha");
      add(S.cooperative, d.attributes.cooperative_name || d.attributes.cooperative_id);
      add(S.township, d.attributes.township);
      var y = d.yield_forecast;
      add(S.yield_forecast, fmt(y.pred, 1) + " t/ha (" + S.interval + " " + fmt(y.lo, 1) + "–" + fmt(y.hi, 1) + ")");
      card.appendChild(dl);
      d.alerts.forEach(function (a) {
        var box = el("div", null, "alert level-" + a.colour);
        box.appendChild(el("strong", (cfg.hazard_names[a.hazard] || a.hazard) + " · " + S.level + " " + a.level));
        if (a.advice) {
          var ul = el("ul");
          a.advice.actions.forEach(function (act) { ul.appendChild(el("li", act.text, act.suppressed ? "withheld" : "")); });
          box.appendChild(ul);
        }
        card.appendChild(box);
      });
      if (!d.alerts.length) card.appendChild(el("p", S.no_alerts, "ok"));
      var link = el("a", S.details);
      link.href = "/field/" + encodeURIComponent(d.field_id) + "?" + [runQ, langQ].filter(Boolean).join("&");
      card.appendChild(link);
    }).catch(reportError);
  }

  function fieldStyle(feature) {
    var level = feature.properties.alert_level || 0;
    return { color: level ? cfg.colours[level] : "#2b5a35", weight: 2, fillOpacity: 0.05 };
  }

  /* The same-origin path of a page's rel=next link, or null on the last page. */
  function nextPath(page) {
    var next = (page.links || []).filter(function (l) { return l.rel === "next"; })[0];
    return next ? next.href.replace(/^https?:\/\/[^/]+/, "") : null;
  }

  function loadFields(url, features) {
    return getJSON(url).then(function (page) {
      features = features.concat(page.features);
      var next = nextPath(page);
      return next ? loadFields(next, features) : features;
    });
  }

  /* Every alert of the run: /api/v1/alerts is paged (worst first), so follow the next links. */
  function loadAlerts(url, list) {
    return getJSON(url).then(function (page) {
      list = list.concat(page.alerts);
      var next = nextPath(page);
      return next ? loadAlerts(next, list) : list;
    });
  }

  function visibleAlerts() {
    var level = q("filter-level").value, hazard = q("filter-hazard").value, bounds = map.getBounds();
    return alerts.filter(function (a) {
      if (level && String(a.level) !== level) return false;
      if (hazard && a.hazard !== hazard) return false;
      var f = fieldsById[a.target_id];
      return !f || bounds.intersects(f.getBounds());
    });
  }

  function renderAlerts() {
    var list = q("alert-list"), shown = visibleAlerts();
    list.replaceChildren();
    q("alert-count").textContent = "(" + shown.length + ")";
    shown.forEach(function (a) {
      var li = el("li", a.target_id + " · " + (cfg.hazard_names[a.hazard] || a.hazard) + " · " + S.level + " " + a.level);
      li.style.borderLeftColor = cfg.colours[a.level];
      li.addEventListener("click", function () {
        var f = fieldsById[a.target_id];
        if (f) map.fitBounds(f.getBounds(), { maxZoom: 15 });
        showCard(a.target_id);
      });
      list.appendChild(li);
    });
    if (!shown.length) list.appendChild(el("li", S.no_alerts));
  }

  function download(name, type, text) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: type }));
    a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
  }

  function csvCell(v) {
    var s = v === null || v === undefined ? "" : String(v);
    if (/^[=+\-@]/.test(s)) s = "'" + s; /* no spreadsheet formulas from data */
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function exportCSV() {
    var cols = ["id", "target_id", "township", "cooperative_id", "crop", "hazard", "level", "colour", "risk", "valid_from", "valid_to"];
    var rows = [cols.join(",")].concat(visibleAlerts().map(function (a) { return cols.map(function (c) { return csvCell(a[c]); }).join(","); }));
    download("alerts.csv", "text/csv", "\ufeff" + rows.join("\n") + "\n");
  }

  function exportGeoJSON() {
    var feats = visibleAlerts().map(function (a) {
      var f = fieldsById[a.target_id];
      return { type: "Feature", id: a.id, geometry: f ? f.feature.geometry : null, properties: a };
    });
    download("alerts.geojson", "application/geo+json", JSON.stringify({ type: "FeatureCollection", features: feats }));
  }

  function reportError(err) {
    var card = q("card");
    card.hidden = false;
    card.replaceChildren(el("p", String(err.message || err)));
  }

  var runSelect = q("run-select");
  if (runSelect) {
    runSelect.addEventListener("change", function () {
      window.location.search = "?run=" + encodeURIComponent(runSelect.value) + "&" + langQ;
    });
  }
  if (!cfg.run) { reportError(new Error(S.no_data)); return; }
  getJSON("/api/v1/layers?" + runQ).then(buildLayers).catch(reportError);
  loadFields("/api/v1/fields?limit=1000&" + runQ, []).then(function (features) {
    fieldsLayer = L.geoJSON({ type: "FeatureCollection", features: features }, {
      style: fieldStyle,
      onEachFeature: function (feature, layer) {
        fieldsById[feature.id] = layer;
        layer.on("click", function () { showCard(feature.id); });
      }
    }).addTo(map);
    if (features.length) map.fitBounds(fieldsLayer.getBounds(), { padding: [20, 20] });
    return loadAlerts("/api/v1/alerts?limit=5000&" + runQ, []);
  }).then(function (all) {
    alerts = all.slice().sort(function (a, b) { return b.level - a.level || (b.risk || 0) - (a.risk || 0); });
    renderAlerts();
  }).catch(reportError);
  map.on("moveend", renderAlerts);
  q("filter-level").addEventListener("change", renderAlerts);
  q("filter-hazard").addEventListener("change", renderAlerts);
  q("export-csv").addEventListener("click", exportCSV);
  q("export-geojson").addEventListener("click", exportGeoJSON);
})();
