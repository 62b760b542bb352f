// The map panel: each device of the panel as a marker at its latest lat/lon, its recent track
// as a line, and a popup with its name, speed and last update. Leaflet draws it over Natural
// Earth's country shapes (world-atlas, TopoJSON), which the build copies beside this module's
// chunk (static/dist/chunks): no tile server, so the page works offline. A chunk of its own
// (build.mjs), loaded by dashboard.js only on a dashboard that has a map.
import { feature } from "topojson-client";
import L from "leaflet";

import { FleetTracks, LiveView } from "../dashboard-streams.js";

const BASEMAP = new URL("countries-50m.json", import.meta.url);
let basemap = null; // one fetch per page, however many maps

function css(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function loadBasemap() {
  basemap ??= fetch(BASEMAP)
    .then((response) => response.json())
    .then((topology) => feature(topology, topology.objects.countries));
  return basemap;
}

function time(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export class FleetMapView extends LiveView {
  constructor(figure, panel, names = {}) {
    super();
    this.figure = figure;
    this.panel = panel;
    this.names = names;
    this.liveOnly = true; // the time-range picker leaves it live
    this.tracks = new FleetTracks({ trail: 30 });
    this.layers = new Map(); // device -> {marker, trail}
    this.dirty = new Set();
    this.frame = 0;
    this.fitted = false;
    figure.querySelector("[data-value]").textContent = String(panel.devices.length);
    figure.querySelector("[data-unit]").textContent = " vehicles";
    figure.querySelector("[data-foot]").textContent =
      "Positions and the last 30 reports of each; select one for its speed";
    const host = document.createElement("div");
    host.className = "fleet-map";
    host.setAttribute("role", "region");
    host.setAttribute("aria-label", `${panel.title}: map of ${panel.devices.length} vehicles`);
    // Markers take a pointer; the keyboard (and a screen reader) picks a vehicle here instead.
    const pick = document.createElement("select");
    pick.className = "fleet-pick";
    pick.setAttribute("aria-label", `${panel.title}: show a vehicle`);
    pick.append(new Option("Show a vehicle…", ""));
    for (const device of panel.devices) pick.append(new Option(this.name(device), String(device)));
    pick.addEventListener("change", () => pick.value && this.show(Number(pick.value)));
    figure.querySelector("[data-chart]").replaceChildren(host, pick);
    this.map = L.map(host, { worldCopyJump: true, minZoom: 2, maxZoom: 9, zoomSnap: 0.25 });
    this.map.attributionControl.setPrefix(false);
    this.map.attributionControl.addAttribution("Natural Earth");
    this.map.setView([49, 9], 4);
    new ResizeObserver(() => this.map.invalidateSize()).observe(host);
    loadBasemap().then((countries) => {
      const land = L.geoJSON(countries, {
        interactive: false,
        style: {
          color: css("--border", "#cfd3e1"),
          weight: 0.8,
          fillColor: css("--surface-2", "#f3f4f8"),
          fillOpacity: 1,
        },
      });
      land.addTo(this.map).bringToBack();
    });
  }

  name(device) {
    return this.names[device] ?? `Device ${device}`;
  }

  append(points) {
    for (const device of this.tracks.apply(points)) this.dirty.add(device);
    this.schedule();
  }

  layer(device) {
    let layer = this.layers.get(device);
    if (!layer) {
      const color = css("--chart-line", "#4f46e5");
      const trail = L.polyline([], { color, weight: 2, opacity: 0.45, interactive: false, className: "vehicle-trail" });
      const marker = L.circleMarker([0, 0], {
        radius: 6,
        color: "#fff",
        weight: 2,
        fillColor: color,
        fillOpacity: 1,
        className: "vehicle-marker",
      });
      marker.bindPopup(() => this.popup(device));
      marker.bindTooltip(this.name(device), { direction: "top", offset: [0, -6] });
      trail.addTo(this.map);
      marker.addTo(this.map);
      layer = { marker, trail };
      this.layers.set(device, layer);
    }
    return layer;
  }

  /** Centre the map on a vehicle and open its popup (the picker's choice). */
  show(device) {
    const layer = this.layers.get(device);
    if (!layer) return;
    this.map.setView(layer.marker.getLatLng(), Math.max(this.map.getZoom(), 6));
    layer.marker.openPopup();
  }

  popup(device) {
    const v = this.tracks.vehicles.get(device);
    const box = document.createElement("div");
    box.className = "vehicle-popup";
    const title = document.createElement("strong");
    title.textContent = this.name(device);
    const speed = document.createElement("div");
    speed.textContent = v?.speed == null ? "Speed unknown" : `${Math.round(v.speed)} km/h`;
    const seen = document.createElement("div");
    seen.className = "muted small";
    seen.textContent = v?.at ? `Updated ${time(v.at)}` : "No report yet";
    box.append(title, speed, seen);
    return box;
  }

  render() {
    for (const device of this.dirty) {
      const v = this.tracks.vehicles.get(device);
      if (!v || v.lat == null) continue;
      const { marker, trail } = this.layer(device);
      marker.setLatLng([v.lat, v.lon]);
      marker.getElement()?.setAttribute("data-device", String(device));
      trail.setLatLngs(v.track);
      if (marker.isPopupOpen()) marker.setPopupContent(this.popup(device));
    }
    this.dirty.clear();
    const placed = [...this.tracks.vehicles.values()].filter((v) => v.lat != null);
    if (!this.fitted && placed.length) {
      this.fitted = true;
      this.map.fitBounds(L.latLngBounds(placed.map((v) => [v.lat, v.lon])).pad(0.15), { maxZoom: 7 });
    }
    this.figure.dataset.points = String(placed.length);
    this.figure.classList.toggle("is-empty", placed.length === 0);
  }
}
