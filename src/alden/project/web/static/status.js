// The status page: resolve a disagreement, estimate accuracy (a background job).
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  function say(text) {
    const box = $("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function call(method, url, body) {
    const r = await fetch(url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const type = r.headers.get("content-type") || "";
    const data = type.includes("json") ? await r.json() : {error: await r.text()};
    if (!r.ok) {
      const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ")
        : data.detail;
      throw new Error(data.error || detail || "the server answered " + r.status);
    }
    return data;
  }

  for (const b of document.querySelectorAll("button.resolve")) {
    b.addEventListener("click", async () => {
      try {
        await call("POST", "/api/resolve", {item: Number(b.dataset.item),
                                            label: Number(b.dataset.label)});
        location.reload();
      } catch (err) {
        say(err.message);
      }
    });
  }

  function show(job) {
    const bar = $("progress");
    if (!job || job.kind !== "evaluate") return false;
    bar.hidden = job.state !== "running";
    // A step that counts fills the bar; one that does not leaves it moving, and says so.
    if (job.progress === null) bar.removeAttribute("value"); else bar.value = job.progress;
    $("job").textContent = job.state === "running"
      ? (job.step || "starting") + " (" + job.elapsed_s + " s" +
        (job.progress === null ? "; no count for this step" : "") + ")"
      : job.message;
    if (job.state === "failed") say(job.message);
    return job.state === "running";
  }

  $("evaluate").addEventListener("click", async () => {
    try {
      const r = await call("POST", "/api/evaluate", {});
      show(r.job);
      const timer = setInterval(async () => {
        const j = (await call("GET", "/api/job")).job;
        if (!show(j)) {
          clearInterval(timer);
          if (j && j.state === "done") location.reload();
        }
      }, 500);
    } catch (err) {
      say(err.message);
    }
  });
})();
