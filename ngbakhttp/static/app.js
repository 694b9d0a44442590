// The ngbak dashboard. It builds every element with createElement and puts
// data in with textContent only: a label or config value holding markup
// shows as text. It loads nothing from another host (the server's
// Content-Security-Policy allows 'self' only).
"use strict";

const $ = (id) => document.getElementById(id);

// The API token: from the URL fragment (#token=...) once, then from the
// session; sent as a bearer token. The fragment never reaches the server.
function token() {
  return $("token").value || sessionStorage.getItem("ngbak-token") || "";
}
function takeTokenFromFragment() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("ngbak-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("token").value = sessionStorage.getItem("ngbak-token") || "";
}

async function api(method, path, body, headers) {
  const h = Object.assign({}, headers || {});
  // The API takes a POST only with a content type no HTML form can send.
  if (method === "POST" && !h["Content-Type"]) h["Content-Type"] = "application/json";
  if (token()) h["Authorization"] = "Bearer " + token();
  const resp = await fetch(path, { method, body, headers: h });
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try {
      const e = await resp.json();
      msg = e.error.code + ": " + e.error.message;
    } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function showMessage(text, ok) {
  const m = $("message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = false;
}

function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

// confirmAction opens the confirmation dialog and resolves to true if the
// user confirms.
function confirmAction(title, text, items, okLabel) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const list = $("confirm-list");
  list.replaceChildren(...items.map((i) => el("li", i)));
  $("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
  });
}

function row(b) {
  const tr = el("tr");
  tr.dataset.id = b.id;
  tr.append(el("td", b.id, "id"));
  tr.append(el("td", new Date(b.created_at).toLocaleString()));
  tr.append(el("td", size(b.size)));
  tr.append(el("td", (b.backends || []).map((x) => x.name + " (" + x.kind + ")").join(", ")));
  const counts = [];
  for (const x of b.backends || []) {
    for (const [k, v] of Object.entries(x.stats || {})) {
      if (!k.includes(".")) counts.push(x.name + " " + k + ": " + v);
    }
  }
  tr.append(el("td", counts.join(", ")));
  const labels = el("td", Object.entries(b.labels || {}).map(([k, v]) => k + "=" + v).join(", "), "labels");
  if (b.interrupted) {
    // A restore that did not end: the stores may be partial until it is
    // rolled back (Manager.RollBack).
    labels.prepend(el("strong", "interrupted restore of " + b.interrupted.backup + " (safety backup " + (b.interrupted.safety_id || "none") + ") ", "interrupted"));
  }
  tr.append(labels);
  const ops = el("td", undefined, "ops");
  const button = (label, fn, cls) => {
    const btn = el("button", label, cls);
    btn.type = "button";
    btn.dataset.op = label.toLowerCase();
    btn.addEventListener("click", () => fn(b, btn));
    ops.append(btn);
  };
  if (b.interrupted && b.interrupted.safety_id === b.id) button("Roll back", rollBack, "danger");
  button("Verify", verify);
  button("Download", download);
  button("Restore", restore, "danger");
  button("Delete", remove, "danger");
  tr.append(ops);
  return tr;
}

async function refresh() {
  try {
    const list = await (await api("GET", "api/backups")).json();
    $("backups").tBodies[0].replaceChildren(...list.map(row));
    $("empty").hidden = list.length > 0;
  } catch (e) {
    showMessage("Listing backups failed: " + e.message);
  }
}

async function verify(b) {
  try {
    follow(await (await api("POST", "api/backups/" + encodeURIComponent(b.id) + "/verify")).json());
  } catch (e) {
    showMessage("Verify " + b.id + " failed to start: " + e.message);
  }
}

async function download(b) {
  try {
    const resp = await api("GET", "api/backups/" + encodeURIComponent(b.id) + "/archive");
    const url = URL.createObjectURL(await resp.blob());
    const a = el("a");
    a.href = url;
    a.download = b.id + ".ngbak";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) {
    showMessage("Download " + b.id + " failed: " + e.message);
  }
}

async function restore(b) {
  const items = (b.backends || []).map((x) => x.name + " (" + x.kind + ")");
  const ok = await confirmAction("Restore " + b.id + "?",
    "These stores will be replaced by the backup's content. A safety backup is taken first.", items, "Restore");
  if (!ok) return;
  try {
    const job = await (await api("POST", "api/backups/" + encodeURIComponent(b.id) + "/restore")).json();
    follow(job);
  } catch (e) {
    showMessage("Restore failed to start: " + e.message);
  }
}

// rollBack ends an interrupted restore: the stores it was replacing get
// the safety backup's content.
async function rollBack(b) {
  const it = b.interrupted;
  const ok = await confirmAction("Roll back the interrupted restore of " + it.backup + "?",
    "These stores will be put back as they were before that restore, from safety backup " + it.safety_id + ".", it.backends || [], "Roll back");
  if (!ok) return;
  try {
    follow(await (await api("POST", "api/interrupted/" + encodeURIComponent(it.id) + "/rollback")).json());
  } catch (e) {
    showMessage("Roll back failed to start: " + e.message);
  }
}

async function remove(b) {
  const ok = await confirmAction("Delete " + b.id + "?", "The archive will be deleted from storage.", [b.id], "Delete");
  if (!ok) return;
  try {
    await api("DELETE", "api/backups/" + encodeURIComponent(b.id));
    showMessage("Backup " + b.id + " deleted.", true);
  } catch (e) {
    showMessage("Delete failed: " + e.message);
  }
  refresh();
}

async function create() {
  try {
    const job = await (await api("POST", "api/backups")).json();
    follow(job);
  } catch (e) {
    showMessage("Backup failed to start: " + e.message);
  }
}

async function upload(ev) {
  const file = ev.target.files[0];
  ev.target.value = "";
  if (!file) return;
  try {
    const man = await (await api("POST", "api/backups/upload", file, { "Content-Type": "application/octet-stream" })).json();
    showMessage("Uploaded and verified as " + man.id + ".", true);
  } catch (e) {
    showMessage("Upload failed: " + e.message);
  }
  refresh();
}

function showJob(j) {
  const box = $("job");
  box.hidden = false;
  box.className = j.state;
  box.dataset.state = j.state;
  box.dataset.kind = j.kind;
  box.dataset.job = j.id;
  const kinds = { backup: "Backup", restore: "Restore", verify: "Verify" };
  $("job-title").textContent = (kinds[j.kind] || j.kind) + " " + (j.backup_id || "") + ": " + j.state;
  const p = $("job-progress");
  if (j.state === "succeeded") {
    p.max = 1; p.value = 1;
  } else if (j.bytes_total > 0) {
    p.max = j.bytes_total; p.value = j.bytes_done;
  } else {
    p.removeAttribute("value");
  }
  let status = j.phase ? "Phase " + j.phase : "";
  if (j.backend) status += ", " + j.backend;
  if (j.bytes_done) status += ", " + size(j.bytes_done) + (j.bytes_total ? " of " + size(j.bytes_total) : "");
  if (j.error) status = "Error: " + j.error;
  if (j.state === "succeeded" && j.size) status = "Done: " + size(j.size);
  if (j.state === "succeeded" && j.kind === "verify") status = "Every hash matches (" + size(j.size) + ").";
  $("job-status").textContent = status;
  $("create").disabled = !(j.state === "succeeded" || j.state === "failed");
}

// follow reads the job's server-sent events with fetch, which can send the
// Authorization header (EventSource cannot).
async function follow(job) {
  showJob(job);
  try {
    const resp = await api("GET", "api/jobs/" + encodeURIComponent(job.id) + "/events");
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (chunk.startsWith("event: job") && data) showJob(JSON.parse(data));
      }
    }
  } catch (e) {
    showMessage("Following the job failed: " + e.message);
  }
  $("create").disabled = false;
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  $("token").addEventListener("change", () => { sessionStorage.setItem("ngbak-token", $("token").value); refresh(); });
  $("create").addEventListener("click", create);
  $("upload-file").addEventListener("change", upload);
  refresh();
  setInterval(refresh, 5000);
});
