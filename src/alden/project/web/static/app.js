// The label page: one item at a time, keys 1-9 / s / u, no full reload between items.
// Every piece of data from the server is put in the page with textContent (never innerHTML),
// so a text holding markup shows as text and runs nothing.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  let state = null;
  let chain = Promise.resolve(); // actions run one after another, in the order of the keys
  let polling = null;
  const FOLLOW_MS = 3000;

  class ServerError extends Error {}

  function newId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function say(text, kind) {
    const box = $("message");
    box.textContent = text || "";
    box.hidden = !text;
    box.className = "message " + (kind || "error");
  }

  function problem(data, status) {
    if (data && data.error) return data.error;
    if (data && Array.isArray(data.detail)) return data.detail.map((d) => d.msg).join("; ");
    if (data && data.detail) return String(data.detail);
    return "the server answered " + status;
  }

  // A request; a network failure is retried with the same body, so the same client_id:
  // the server counts it once however often it arrives.
  async function call(method, url, body) {
    let last = null;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const r = await fetch(url, {
          method, credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const type = r.headers.get("content-type") || "";
        const data = type.includes("json") ? await r.json() : {error: await r.text()};
        if (!r.ok) throw new ServerError(problem(data, r.status));
        return data;
      } catch (err) {
        if (err instanceof ServerError) throw err;
        last = err;
        await new Promise((done) => setTimeout(done, 250 * (attempt + 1)));
      }
    }
    throw new Error("the server does not answer (" + last + "); reload the page when it is back");
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function renderText(item) {
    const box = $("text");
    box.replaceChildren();
    for (const seg of item.segments) {
      if (seg.h === undefined && !seg.m) {
        box.appendChild(document.createTextNode(seg.t));
        continue;
      }
      const span = el("span", seg.t, "word");
      if (seg.h !== undefined) {
        span.style.backgroundColor = "rgba(230, 90, 20, " + (0.06 + 0.64 * seg.h).toFixed(3) + ")";
        span.title = "interpretation " + seg.v;
      }
      if (seg.m) span.classList.add("pick");
      box.appendChild(span);
    }
  }

  function render(s) {
    state = s;
    $("who").textContent = s.annotator ? "labeling as " + s.annotator : "";
    $("name-form").hidden = !!s.annotator;
    $("labeler").hidden = !s.annotator;
    $("classes-form").hidden = !s.annotator || s.classes.length > 0;
    if (!$("k").dataset.touched) $("k").value = s.k;
    showJob(s.job);
    if (!s.annotator) return;
    const item = s.item;
    $("batch-info").textContent = "round " + s.round + " · " + s.total_labeled + " of " +
      s.items + " items labeled" + (s.disagreements ? " · " + s.disagreements +
      " disagreement(s) on the Status page" : "");
    for (const id of ["item-id", "text", "model", "reason", "classes"]) $(id).hidden = !item;
    $("skip").disabled = !item;
    $("undo").disabled = !s.done; // an answer of this batch to take back
    const segs = item ? item.segments : [];
    $("heat-note").hidden = !segs.some((seg) => seg.h !== undefined);
    $("pick-note").hidden = !segs.some((seg) => seg.m);
    if (!item) {
      $("counter").textContent = s.size ? "Batch done" : "No batch yet";
      const done = $("done");
      done.hidden = false;
      done.textContent = s.size
        ? "You labeled " + s.labeled + " and skipped " + s.skipped + " of the " + s.size +
          " items of this batch" + (s.elsewhere ? "; " + s.elsewhere + " were labeled " +
          "elsewhere (alden teach or label)" : "") +
          ". Train and pick the next batch below (u takes back the last one)."
        : "Press \u201cTrain and pick the next batch\u201d to begin.";
      return;
    }
    $("done").hidden = true;
    $("counter").textContent = "Item " + s.position + " of " + s.size + " · " + s.labeled +
      " labeled, " + s.skipped + " skipped" +
      (s.elsewhere ? ", " + s.elsewhere + " labeled elsewhere" : "");
    $("item-id").textContent = "id " + item.id;
    renderText(item);
    const model = $("model");
    model.replaceChildren();
    if (item.predicted !== null) {
      model.appendChild(el("span", "model: " + item.predicted + " (" +
        item.confidence.toFixed(2) + ")"));
      const meter = el("meter");
      meter.min = 0; meter.max = 1; meter.value = item.confidence;
      model.appendChild(meter);
    } else {
      model.appendChild(el("span", "no model yet (cold start)", "muted"));
    }
    $("reason").textContent = item.reason ? "why: " + item.reason : "";
    const buttons = $("classes");
    buttons.replaceChildren();
    s.classes.forEach((name, i) => {
      const b = el("button", "", "class");
      if (i < 9) b.appendChild(el("kbd", String(i + 1)));
      b.appendChild(document.createTextNode(" " + name));
      b.type = "button";
      b.addEventListener("click", () => act("label", i));
      buttons.appendChild(b);
    });
  }

  function act(kind, label) {
    chain = chain.then(() => run(kind, label));
    return chain;
  }

  async function run(kind, label) {
    if (!state || !state.annotator) return;
    if (kind !== "undo" && !state.item) {
      say("nothing left to label in this batch: train and pick the next one", "info");
      return;
    }
    const body = kind === "undo" ? {client_id: newId()}
      : {item: state.item.item, label: kind === "label" ? label : null, client_id: newId()};
    try {
      const s = await call("POST", "/api/" + kind, body);
      say("");
      render(s);
      if (s.ack && s.ack.outcome === "nothing") say("nothing to undo in this batch", "info");
      if (s.ack && s.ack.outcome === "conflict") {
        say("saved; someone labeled this item differently: both labels are kept (Status page)",
          "info");
      }
    } catch (err) {
      say(err.message);
    }
  }

  function showJob(job) {
    const bar = $("progress");
    if (!job || job.kind !== "query") { bar.hidden = true; return; }
    bar.hidden = job.state !== "running";
    // A step that counts fills the bar; one that does not leaves it moving, and says so.
    if (job.progress === null) bar.removeAttribute("value"); else bar.value = job.progress;
    $("job").textContent = job.state === "running"
      ? "next batch: " + (job.step || "starting") + " (" + job.elapsed_s + " s" +
        (job.progress === null ? "; no count for this step" : "") +
        "); keep labeling meanwhile"
      : job.message;
    $("query").disabled = job.state === "running";
    if (job.state === "running") poll();
  }

  // One request at a time (a slow answer never overlaps the next), and the new batch is
  // fetched in the chain of the keys' actions: an answer given meanwhile is never followed
  // by an older state, which would make the next key label the item before.
  function poll() {
    if (polling) return;
    polling = true;
    const tick = async () => {
      let running = true;
      try {
        const r = await call("GET", "/api/job");
        running = Boolean(r.job && r.job.state === "running");
        showJob(r.job);
        if (r.job && r.job.state === "failed") say(r.job.message);
        if (r.job && r.job.state === "done") chain = chain.then(refresh);
      } catch (err) {
        say(err.message);
      }
      if (running) setTimeout(tick, 400);
      else polling = null;
    };
    setTimeout(tick, 400);
  }

  async function refresh() {
    try {
      render(await call("GET", "/api/state"));
    } catch (err) {
      say(err.message);
    }
  }

  // Another writer (alden teach, the terminal labeler, a new batch) may label the item shown:
  // while the page is visible it asks every few seconds, between the keys' actions, and moves
  // on when the item it shows is no longer the next one to label.
  async function follow() {
    if (document.hidden || !state || !state.annotator) return;
    try {
      const s = await call("GET", "/api/state");
      const shown = state.item ? state.item.item : null;
      const sameRound = s.round === state.round;
      if ((s.item ? s.item.item : null) !== shown || !sameRound) {
        render(s);
        if (shown !== null && sameRound) {
          say("the item shown was labeled elsewhere meanwhile; here is the next one", "info");
        }
      }
    } catch (err) {
      // the next action says it; a poll stays quiet
    }
  }
  setInterval(() => { chain = chain.then(follow); }, FOLLOW_MS);
  document.addEventListener("visibilitychange", () => { chain = chain.then(follow); });

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key.length !== 1) return; // Enter, arrows, F5, Tab ...: the browser's own
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA")) return;
    if (!state || !state.annotator) return;
    const n = state.classes.length;
    if (n === 0 && /^[0-9]$/.test(e.key)) {
      say("this project has no classes yet: name them above, then press their keys");
      e.preventDefault();
      return;
    }
    const keys = "press 1-" + Math.min(n, 9) + " for a class, s to skip, u to undo";
    const k = e.key.toLowerCase();
    if (/^[0-9]$/.test(k)) {
      const i = Number(k) - 1;
      if (i >= 0 && i < n) act("label", i);
      else say("no class " + k + ": " + keys);
    } else if (k === "s") act("skip");
    else if (k === "u") act("undo");
    else {
      say("\u201c" + e.key + "\u201d is not a key here: " + keys);
      return;
    }
    e.preventDefault();
  });

  $("skip").addEventListener("click", () => act("skip"));
  $("undo").addEventListener("click", () => act("undo"));
  $("k").addEventListener("input", () => { $("k").dataset.touched = "1"; });
  $("query").addEventListener("click", async () => {
    try {
      const r = await call("POST", "/api/query", {k: Number($("k").value) || null});
      if (!r.started) say("a job is running already; the new batch comes when it ends", "info");
      showJob(r.job);
      poll();
    } catch (err) {
      say(err.message);
    }
  });
  $("classes-save").addEventListener("click", async () => {
    const names = $("class-names").value.split("\n").map((n) => n.trim()).filter((n) => n);
    try {
      render(await call("POST", "/api/classes", {names}));
      say("");
    } catch (err) {
      say(err.message);
    }
  });
  $("name-save").addEventListener("click", saveName);
  $("name").addEventListener("keydown", (e) => { if (e.key === "Enter") saveName(); });

  async function saveName() {
    try {
      await call("POST", "/api/annotator", {name: $("name").value});
      say("");
      await refresh();
    } catch (err) {
      say(err.message);
    }
  }

  refresh();
})();
