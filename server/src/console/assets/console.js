// Lastmile console: drag and drop on the board, the live board, the catalog import's progress.
// Everything works without this script except those three; forms post normally.
"use strict";
(function () {
  const csrf = () => document.body.dataset.csrf || "";
  const headers = (extra) => Object.assign({ "x-csrf-token": csrf(), "x-console-fetch": "1" }, extra || {});

  // "Back" links on error pages (no inline script: the content security policy forbids it).
  document.querySelectorAll("a[data-back]").forEach((a) =>
    a.addEventListener("click", (e) => { e.preventDefault(); history.back(); }));

  // ----- the board -----
  const board = document.getElementById("board");
  let version = 0;
  async function refresh() {
    if (!board) return;
    const r = await fetch(board.dataset.fragment, { headers: headers(), credentials: "same-origin" });
    if (!r.ok) return;
    const before = new Map();
    board.querySelectorAll(".card").forEach((c) => before.set(c.dataset.id, c.outerHTML));
    board.innerHTML = await r.text();
    board.querySelectorAll(".card").forEach((c) => {
      if (before.get(c.dataset.id) !== c.outerHTML) c.classList.add("updated");
    });
    version += 1;
    board.dataset.version = String(version);
    const live = document.getElementById("live");
    if (live) {
      live.textContent = live.dataset.idle + " · " + new Date().toLocaleTimeString(document.documentElement.lang);
      live.classList.add("flash");
      setTimeout(() => live.classList.remove("flash"), 1200);
    }
  }
  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(refresh, 200); };

  if (board) {
    board.dataset.version = "0";
    board.addEventListener("dragstart", (e) => {
      const card = e.target.closest && e.target.closest(".card");
      if (!card) return;
      e.dataTransfer.setData("text/plain", card.dataset.id);
      e.dataTransfer.effectAllowed = "move";
    });
    const laneOf = (e) => e.target.closest && e.target.closest("[data-engineer]");
    board.addEventListener("dragover", (e) => {
      const lane = laneOf(e);
      if (!lane) return;
      e.preventDefault();
      board.querySelectorAll(".drop-target").forEach((l) => l !== lane && l.classList.remove("drop-target"));
      lane.classList.add("drop-target");
    });
    board.addEventListener("dragleave", (e) => {
      const lane = laneOf(e);
      if (lane && !lane.contains(e.relatedTarget)) lane.classList.remove("drop-target");
    });
    board.addEventListener("drop", async (e) => {
      const lane = laneOf(e);
      if (!lane) return;
      e.preventDefault();
      lane.classList.remove("drop-target");
      const id = e.dataTransfer.getData("text/plain");
      if (!id) return;
      const body = new URLSearchParams({ engineer_id: lane.dataset.engineer || "" });
      // Dropped at a time: the day timeline by position (to the quarter hour), a week's day
      // at the card's own time of day (09:00 if it has none). The window keeps its length.
      const card = board.querySelector(`.card[data-id="${CSS.escape(id)}"]`);
      const dur = Number((card && card.dataset.dur) || 120);
      const line = e.target.closest(".timeline");
      const day = e.target.closest(".day[data-day]");
      // A local date and clock time: the server reads them in the user's time zone.
      let at = null;
      if (line) {
        const box = line.getBoundingClientRect();
        const frac = Math.min(Math.max((e.clientX - box.left) / box.width, 0), 1);
        const minute = Math.round((frac * Number(line.dataset.spanMin)) / 15) * 15;
        at = { day: line.dataset.day, minute: Number(line.dataset.originMin) + minute };
      } else if (day) {
        at = { day: day.dataset.day, minute: card && card.dataset.tod ? Number(card.dataset.tod) : 540 };
      }
      if (at !== null && lane.dataset.engineer) {
        body.set("day", at.day);
        body.set("minute", String(at.minute));
        body.set("duration_min", String(dur));
      }
      const r = await fetch("/console/orders/" + encodeURIComponent(id) + "/assign", {
        method: "POST", credentials: "same-origin", body,
        headers: headers({ "content-type": "application/x-www-form-urlencoded" }),
      });
      if (!r.ok) {
        let msg = r.status + "";
        try { msg = (await r.json()).message || msg; } catch (_) { /* not JSON */ }
        alert(msg);
      }
      soon();
    });
    if (window.EventSource) {
      const es = new EventSource("/console/events");
      es.addEventListener("change", soon);
    }
  }

  // ----- catalog import -----
  const form = document.getElementById("import");
  if (form) {
    const bar = document.getElementById("progress");
    const status = document.getElementById("import-status");
    const errors = document.getElementById("import-errors");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const file = form.querySelector("input[type=file]").files[0];
      if (!file) return;
      const q = new URLSearchParams({ mode: form.mode.value, location: form.location ? form.location.value : "" });
      bar.value = 0; errors.textContent = ""; status.textContent = "…";
      const r = await fetch("/console/catalog/imports?" + q, {
        method: "POST", credentials: "same-origin", body: file,
        headers: headers({ "content-type": "text/csv" }),
      });
      const job = await r.json();
      if (!r.ok) { status.textContent = job.message || String(r.status); return; }
      const poll = async () => {
        const s = await (await fetch("/console/catalog/imports/" + job.id, { headers: headers() })).json();
        bar.value = s.total ? Math.round((100 * s.processed) / s.total) : 0;
        status.textContent = s.processed + " / " + s.total + " · " + s.imported + " ✓ · " + s.error_count + " ✗ · " + s.status;
        if (s.status === "running") { setTimeout(poll, 300); return; }
        bar.value = 100;
        status.textContent = form.dataset.labelDone + ": " + s.imported + " ✓ · " + s.error_count + " ✗" + (s.message ? " · " + s.message : "");
        if (s.error_count > 0) {
          const a = document.createElement("a");
          a.href = "/console/catalog/imports/" + s.id + "/errors";
          a.textContent = form.dataset.labelErrors;
          errors.replaceChildren(a);
        }
      };
      poll();
    });
  }
})();
