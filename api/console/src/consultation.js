// Consultations on a warning: open one with invitees, follow its thread live, post
// messages (replies, attachments), record decisions and close it with a summary.

import { ApiError } from "./api.js";
import { ACT, can } from "./auth.js";
import { formatTime, h, replace } from "./dom.js";
import { LEVELS, levelName } from "./levels.js";
import { uuid4 } from "./ids.js";
import { liveSocket, showState } from "./live.js";

const DECISIONS = ["note", "evacuate", "upgrade", "downgrade", "lift"];

const asList = (body) => (Array.isArray(body) ? body : body?.consultations ?? []);

/** The consultations section of a warning's panel; returns {element, close}. */
export function consultationSection(warning, { api, me, token }) {
  const element = h("section", { class: "consultations", "aria-label": "consultations" },
    h("h3", {}, "Consultation"));
  const body = h("div");
  element.append(body);
  let view = null;

  async function load() {
    let list;
    try {
      list = asList(await api.get(`/consultations?warning_id=${encodeURIComponent(warning.id)}`));
    } catch (error) {
      const missing = error instanceof ApiError && (error.status === 404 || error.status === 405);
      replace(body, h("p", { class: "muted" }, missing ? "consultations are not available on this server"
                                                       : error.message));
      return;
    }
    const open = list.find((c) => c.status !== "closed") ?? list[0];
    if (open) return show(open.id);
    replace(body, can(me, ACT) ? openForm() : h("p", { class: "muted" }, "no consultation on this warning"));
  }

  function openForm() {
    const title = h("input", { name: "title", required: true, maxlength: 200,
                               value: `${levelName(warning.level)} warning at ${warning.point_name}` });
    const invitees = h("input", { name: "invitees", placeholder: "user names, comma-separated" });
    const status = h("p", { class: "action-status", role: "status" });
    return h("form", { class: "consultation-open", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const created = await api.post("/consultations", {
          warning_id: warning.id, title: title.value.trim(),
          invitees: invitees.value.split(",").map((s) => s.trim()).filter(Boolean),
        });
        show(created.id);
      } catch (error) {
        status.textContent = error.message;
      }
    } }, title, invitees, h("button", { type: "submit", dataset: { action: "open-consultation" } },
      "Open a consultation"), status);
  }

  function show(id) {
    view?.close();
    view = consultationView(id, { api, me, token, warning });
    replace(body, view.element);
  }

  load();
  return { element, close: () => view?.close() };
}

function consultationView(id, { api, me, token, warning }) {
  const messages = new Map();
  const decisions = new Map();
  let consultation = null;
  let replyTo = null;
  const header = h("div", { class: "consultation-head" });
  const badge = h("span", { class: "badge small", dataset: { state: "connecting" } }, "connecting");
  const thread = h("ol", { class: "thread", "aria-label": "messages" });
  const decisionList = h("ul", { class: "decisions", "aria-label": "decisions" });
  const status = h("p", { class: "action-status", role: "status" });
  const replying = h("span", { class: "muted small" });
  const text = h("textarea", { name: "message", rows: 2, placeholder: "write to the participants" });
  const file = h("input", { type: "file", name: "attachment" });
  const element = h("div", { class: "consultation", dataset: { consultationId: id } },
    header, badge, thread,
    h("form", { class: "post", onsubmit: (e) => { e.preventDefault(); post(); } },
      replying, text, file, h("button", { type: "submit", dataset: { action: "post-message" } }, "Post")),
    h("h4", {}, "Decisions"), decisionList,
    can(me, ACT) ? [decisionForm(), closeForm()] : null, status);

  function renderHeader() {
    if (!consultation) return;
    const people = (consultation.participants ?? []).map((p) => (typeof p === "string" ? p : p.username ?? p.name ?? p.user));
    replace(header, h("strong", {}, consultation.title), " ",
      h("span", { class: "pill", dataset: { status: consultation.status } }, consultation.status),
      h("div", { class: "muted small" }, `participants: ${people.join(", ") || "–"}`),
      consultation.summary ? h("p", { class: "summary" }, `Summary: ${consultation.summary}`) : null);
  }

  function renderThread() {
    const all = [...messages.values()].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
    const children = new Map();
    for (const m of all) {
      const key = m.parent_id && messages.has(m.parent_id) ? m.parent_id : null;
      if (!children.has(key)) children.set(key, []);
      children.get(key).push(m);
    }
    const item = (m) => h("li", { dataset: { messageId: m.id } },
      h("div", { class: "meta" }, h("strong", {}, m.author ?? "?"), " ", formatTime(m.created_at), " ",
        h("button", { type: "button", class: "link", onclick: () => { replyTo = m.id; replying.textContent = `reply to ${m.author}`; text.focus(); } }, "reply")),
      h("div", { class: "body" }, m.body),
      (m.attachments ?? []).map((a) => h("button", { type: "button", class: "link attachment",
        onclick: () => download(a) }, `📎 ${a.filename}`)),
      children.has(m.id) ? h("ol", {}, children.get(m.id).map(item)) : null);
    replace(thread, (children.get(null) ?? []).map(item));
    thread.scrollTop = thread.scrollHeight;
  }

  function renderDecisions() {
    replace(decisionList, [...decisions.values()].map((d) => h("li", { dataset: { decisionId: d.id, kind: d.kind } },
      h("strong", {}, d.kind), d.level ? ` ${levelName(d.level)}` : "", d.households ? ` · ${d.households} households` : "",
      ` · ${d.reason ?? ""}`, d.decided_by ? ` (${d.decided_by}, ${formatTime(d.decided_at)})` : "", d.transition_id ? h("span", { class: "muted small" }, ` transition ${d.transition_id}`) : null)));
  }

  // Attachments need the bearer token: fetch, then hand the browser the bytes.
  async function download(attachment) {
    const response = await fetch(attachment.url, { headers: { Authorization: `Bearer ${token()}` } });
    if (!response.ok) { status.textContent = `${attachment.filename}: HTTP ${response.status}`; return; }
    const link = h("a", { href: URL.createObjectURL(await response.blob()), download: attachment.filename });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  async function post() {
    const content = text.value.trim();
    if (!content) return;
    try {
      const attachmentIds = [];
      if (file.files.length) {
        const form = new FormData();
        form.append("file", file.files[0]);
        attachmentIds.push((await api.upload(`/consultations/${id}/attachments`, form)).id);
      }
      const message = await api.post(`/consultations/${id}/messages`, {
        body: content, ...(replyTo ? { parent_id: replyTo } : {}),
        ...(attachmentIds.length ? { attachment_ids: attachmentIds } : {}) });
      if (message?.id) messages.set(message.id, message);
      text.value = ""; file.value = ""; replyTo = null; replying.textContent = "";
      renderThread();
      status.textContent = "";
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function decisionForm() {
    const kind = h("select", { name: "decision-kind" }, DECISIONS.map((k) => h("option", { value: k }, k)));
    const level = h("select", { name: "decision-level" }, h("option", { value: "" }, "level…"),
      LEVELS.slice(1).map((l) => h("option", { value: l }, levelName(l))));
    const households = h("input", { name: "households", type: "number", min: 0, placeholder: "households" });
    const reason = h("input", { name: "decision-reason", placeholder: "reason", required: true });
    let pending = null;  // [body as sent, Idempotency-Key]: a retry of the same decision reuses it
    return h("form", { class: "decide", onsubmit: async (e) => {
      e.preventDefault();
      const sent = { kind: kind.value, reason: reason.value.trim(),
        ...(level.value && ["upgrade", "downgrade"].includes(kind.value) ? { level: level.value } : {}),
        ...(households.value && kind.value === "evacuate" ? { households: Number(households.value) } : {}),
        ...(["upgrade", "downgrade", "lift"].includes(kind.value) ? { expected_version: warning.version } : {}) };
      const signature = JSON.stringify(sent);
      if (pending?.[0] !== signature) pending = [signature, uuid4()];
      try {
        const decision = await api.post(`/consultations/${id}/decisions`, sent,
                                        { headers: { "Idempotency-Key": pending[1] } });
        pending = null;
        if (decision?.id) decisions.set(decision.id, decision);
        renderDecisions();
        reason.value = "";
        status.textContent = "decision recorded";
      } catch (error) {
        status.textContent = error.message;
      }
    } }, kind, level, households, reason, h("button", { type: "submit", dataset: { action: "decide" } }, "Record decision"));
  }

  function closeForm() {
    const summary = h("input", { name: "summary", placeholder: "summary", required: true });
    return h("form", { class: "close-consultation", onsubmit: async (e) => {
      e.preventDefault();
      try {
        consultation = { ...consultation, ...(await api.post(`/consultations/${id}/close`, { summary: summary.value.trim() })) };
        renderHeader();
      } catch (error) {
        status.textContent = error.message;
      }
    } }, summary, h("button", { type: "submit" }, "Close consultation"));
  }

  function absorb(full) {
    consultation = full;
    for (const m of full.messages ?? []) messages.set(m.id, m);
    for (const d of full.decisions ?? []) decisions.set(d.id, d);
    renderHeader(); renderThread(); renderDecisions();
  }

  async function reload() {
    try { absorb(await api.get(`/consultations/${id}`)); } catch (error) { status.textContent = error.message; }
  }

  // The socket first, then the load on its hello (each time it connects): nothing falls
  // between the two; an event the load already showed is matched by its id.
  const socket = liveSocket(`/ws/consultations/${encodeURIComponent(id)}`, {
    token,
    onState: (state, detail) => showState(badge, state, detail),
    onMessage: (frame) => {
      const { type, consultation_id: _, ...payload } = frame;
      if (type === "hello") reload();
      else if (type === "message") { messages.set(payload.id, payload); renderThread(); }
      else if (type === "decision") { decisions.set(payload.id, payload); renderDecisions(); }
      else if (type === "participant" && consultation) {
        consultation.participants = [...(consultation.participants ?? []).filter((p) => p.username !== payload.username), payload];
        renderHeader();
      } else if (type === "closed" && consultation) { consultation = { ...consultation, status: "closed", ...payload }; renderHeader(); }
    },
  });
  return { element, close: () => socket.close() };
}
