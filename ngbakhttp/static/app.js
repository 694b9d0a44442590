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
// user confirms. With typed, OK stays disabled until that text is typed;
// with refused, it stays disabled and says why.
function confirmAction(title, text, items, okLabel, typed, refused) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const list = $("confirm-list");
  list.replaceChildren(...items.map((i) => (i instanceof Node ? i : el("li", i))));
  const ok = $("confirm-ok");
  ok.textContent = okLabel;
  const input = $("confirm-typed");
  input.value = "";
  $("confirm-type").hidden = !typed;
  $("confirm-refused").hidden = !refused;
  $("confirm-refused").textContent = refused ? "The restore would be refused: " + refused : "";
  ok.disabled = !!typed || !!refused;
  input.oninput = () => { ok.disabled = !!refused || input.value.trim() !== typed; };
  $("confirm-into").hidden = true;
  $("confirm-into").replaceChildren();
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
  });
}

function row(b) {
  const tr = el("tr");
  tr.dataset.id = b.id;
  const safetyFor = (b.labels || {})[safetyLabel];
  const idCell = el("td", b.id, "id");
  if (safetyFor) {
    // A restore's safety backup: named after, and shown under, the backup
    // that restore restored.
    tr.dataset.safetyFor = safetyFor;
    tr.classList.add("safety");
    const a = el("a", safetyFor);
    a.href = "#backup-" + safetyFor;
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      const target = document.querySelector('tr[data-id="' + CSS.escape(safetyFor) + '"]');
      if (target) target.scrollIntoView({ block: "center" });
    });
    const note = el("div", "safety backup of restore of ", "safety-of");
    note.append(a);
    idCell.append(note);
  }
  tr.append(idCell);
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

// safetyLabel is ngbak.LabelSafetyFor: the id of the backup whose restore
// took the safety backup.
const safetyLabel = "ngbak.safety-for";

// besideTheirBackups moves each safety backup's row right under the row of
// the backup its restore restored, when that backup is on the page, newest
// safety backup first; the rest keep the list's order.
function besideTheirBackups(rows) {
  const byID = new Map(rows.map((r) => [r.dataset.id, r]));
  const under = new Map();
  const out = [];
  for (const r of rows) {
    const f = r.dataset.safetyFor;
    if (f && byID.has(f) && f !== r.dataset.id) {
      if (!under.has(f)) under.set(f, []);
      under.get(f).push(r);
    } else {
      out.push(r);
    }
  }
  const placed = [];
  const place = (r, depth) => {
    if (depth > 64) return; // a cycle of labels: not made by ngbak
    placed.push(r);
    for (const s of under.get(r.dataset.id) || []) place(s, depth + 1);
  };
  for (const r of out) place(r, 0);
  // Rows left in a cycle of labels keep their place at the end.
  const seen = new Set(placed);
  for (const r of rows) if (!seen.has(r)) placed.push(r);
  return placed;
}

// shown is how many backups the list shows: a page of them, and more on
// "Show more"; the list is refreshed in full, never all of thousands.
const pageSize = 100;
let shown = pageSize;

async function refresh() {
  try {
    const resp = await api("GET", "api/backups?limit=" + shown);
    const list = await resp.json();
    const total = Number(resp.headers.get("X-Total-Count") || list.length);
    $("backups").tBodies[0].replaceChildren(...besideTheirBackups(list.map(row)));
    $("empty").hidden = list.length > 0;
    $("more").hidden = list.length >= total;
    $("count").textContent = total > list.length ? "Showing " + list.length + " of " + total + " backups." : "";
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

// download asks for a single-use link and lets the browser follow it, so
// that the archive streams to disk: through fetch it would sit whole in
// the page's memory, since fetch is how the token is sent.
async function download(b) {
  try {
    const link = await (await api("POST", "api/backups/" + encodeURIComponent(b.id) + "/link")).json();
    const a = el("a");
    a.href = link.url;
    a.download = b.id + ".ngbak";
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    showMessage("Download " + b.id + " failed: " + e.message);
  }
}

function counts(m) {
  return Object.entries(m || {}).filter(([k]) => !k.includes(".")).map(([k, v]) => k + " " + v).join(", ") || "nothing counted";
}

// planItems describes a restore plan, backend by backend.
function planItems(p) {
  return p.backends.map((x) => {
    const li = el("li", undefined, "plan");
    li.dataset.backend = x.name;
    li.append(el("strong", x.name + " (" + x.kind + ")"));
    if (x.into) li.append(el("span", " into " + x.into, "into"));
    li.append(el("span", ": the backup holds " + counts(x.backup) + (x.current ? "; the store holds " + counts(x.current) + " now" : "")));
    for (const d of x.deletes || []) li.append(el("div", "deletes " + d + ", which the backup does not hold", "deletes"));
    if (x.refused) li.append(el("div", "refuses: " + x.refused, "refused"));
    return li;
  });
}

// restore asks for the plan and shows it; when other exporters are
// registered, each backend of the backup gets a choice of target
// (RestoreOptions.Into), and the plan shown is the one of that choice.
async function restore(b) {
  let plan, exporters;
  showMessage("Checking what restoring " + b.id + " would do…", true);
  const planOf = async (into) => {
    const q = Object.entries(into).map(([k, v]) => k + "=" + v).join(",");
    return (await api("GET", "api/backups/" + encodeURIComponent(b.id) + "/plan" + (q ? "?into=" + encodeURIComponent(q) : ""))).json();
  };
  try {
    plan = await planOf({});
    exporters = await (await api("GET", "api/exporters")).json();
  } catch (e) {
    showMessage("Planning the restore failed: " + e.message);
    return;
  }
  $("message").hidden = true;
  const into = {};
  const gate = (p) => {
    const deletes = p.backends.some((x) => (x.deletes || []).length > 0);
    const refused = p.refused || p.backends.filter((x) => x.refused).map((x) => x.name + ": " + x.refused).join("; ");
    return [deletes ? b.id : "", refused];
  };
  const text = "These stores will be replaced by the backup's content. " +
    (plan.safety_backup ? "A safety backup" + (plan.safety_bytes ? " of about " + size(plan.safety_bytes) : "") + " is taken first." : "");
  const [typed, refused] = gate(plan);
  const done = confirmAction("Restore " + b.id + "?", text, planItems(plan), "Restore", typed, refused);
  if (exporters.length > 1) {
    const box = $("confirm-into");
    for (const x of plan.backends) {
      const sel = el("select");
      sel.dataset.backend = x.name;
      for (const ex of exporters) {
        const o = el("option", ex.name + " (" + ex.kind + ")");
        o.value = ex.name;
        o.selected = ex.name === x.name;
        sel.append(o);
      }
      sel.addEventListener("change", async () => {
        if (sel.value === x.name) delete into[x.name]; else into[x.name] = sel.value;
        try {
          const p = await planOf(into);
          $("confirm-list").replaceChildren(...planItems(p));
          const [t, r] = gate(p);
          setGate(t, r);
        } catch (e) {
          setGate("", e.message);
        }
      });
      const label = el("label", "Restore " + x.name + " into ");
      label.append(sel);
      box.append(el("div", undefined, "into"));
      box.lastChild.append(label);
    }
    box.hidden = false;
  }
  if (!(await done)) return;
  try {
    const body = Object.keys(into).length ? JSON.stringify({ into }) : undefined;
    const job = await (await api("POST", "api/backups/" + encodeURIComponent(b.id) + "/restore", body)).json();
    follow(job);
  } catch (e) {
    showMessage("Restore failed to start: " + e.message);
  }
}

// setGate changes what the open confirmation requires: a typed text, or
// nothing because the action is refused.
function setGate(typed, refused) {
  const ok = $("confirm-ok");
  const input = $("confirm-typed");
  $("confirm-type").hidden = !typed;
  $("confirm-refused").hidden = !refused;
  $("confirm-refused").textContent = refused ? "The restore would be refused: " + refused : "";
  ok.disabled = !!refused || (!!typed && input.value.trim() !== typed);
  input.oninput = () => { ok.disabled = !!refused || (!!typed && input.value.trim() !== typed); };
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
  if (j.backends && j.backends.length) status += ", " + j.backends.join(", ");
  else if (j.backend) status += ", " + j.backend;
  if (j.bytes_done) status += ", " + size(j.bytes_done) + (j.bytes_total ? " of " + size(j.bytes_total) : "");
  if (j.error) status = "Error: " + j.error;
  if (j.state === "succeeded" && j.size) status = "Done: " + size(j.size);
  if (j.state === "succeeded" && j.kind === "verify") status = "Every hash matches (" + size(j.size) + ").";
  $("job-status").textContent = status;
  // Each backend of a restore or verify: its state and its bytes in the
  // phase that counted them (see ngbakhttp.BackendProgress: a backend is
  // done only when the whole job is).
  $("job-backends").replaceChildren(...(j.progress || []).map((x) => {
    let text = x.name + ": " + x.state;
    if (x.phase) text += ", " + x.phase + " " + size(x.bytes) + (x.total ? " of " + size(x.total) : "");
    const li = el("li", text, "backend " + x.state);
    li.dataset.backend = x.name;
    li.dataset.state = x.state;
    li.dataset.phase = x.phase || "";
    li.dataset.bytes = x.bytes;
    li.dataset.total = x.total;
    if (x.total > 0) {
      const bar = document.createElement("progress");
      bar.max = x.total;
      bar.value = Math.min(x.bytes, x.total);
      li.append(bar);
    }
    return li;
  }));
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
  $("more").addEventListener("click", () => { shown += pageSize; refresh(); });
  refresh();
  setInterval(refresh, 5000);
});
