// The officer's actions on a warning, as the role and the warning's state allow:
// issue, acknowledge, escalate (upgrade), downgrade with a reason, lift; each names the
// version the officer saw and carries an Idempotency-Key reused on a retry.

import { ACT, can } from "./auth.js";
import { h, replace } from "./dom.js";
import { ApiError } from "./api.js";
import { uuid4 } from "./ids.js";
import { LEVELS, levelName } from "./levels.js";

const NEEDS_REASON = new Set(["downgrade", "lift", "upgrade"]);

export function actionsSection(warning, { me, api, notice, onDone }) {
  const section = h("section", { class: "actions", "aria-label": "actions" }, h("h3", {}, "Actions"));
  if (!can(me, ACT)) {
    section.append(h("p", { class: "muted" }, `${me.role.replace("_", " ")}: read only`));
    return section;
  }
  if (warning.status === "lifted") {
    section.append(h("p", { class: "muted" }, "lifted: no further actions"));
    return section;
  }
  const rank = LEVELS.indexOf(warning.level);
  const reason = h("input", { name: "reason", placeholder: "reason (required to escalate, downgrade, lift)",
                              maxlength: 2000 });
  const higher = h("select", { name: "upgrade-level" },
    LEVELS.slice(rank + 1).map((level) => h("option", { value: level }, levelName(level))));
  const lower = h("select", { name: "downgrade-level" },
    LEVELS.slice(1, rank).map((level) => h("option", { value: level }, levelName(level))));
  const status = h("p", { class: "action-status", role: "status", dataset: notice ? { outcome: "done" } : {} }, notice);
  const pending = new Map();  // action -> idempotency key, kept until it succeeds

  async function perform(action, level) {
    const text = reason.value.trim() || (NEEDS_REASON.has(action) ? "" : `${action} in the console`);
    if (!text) {
      status.textContent = `a reason is required to ${action === "upgrade" ? "escalate" : action}`;
      status.dataset.outcome = "refused";
      reason.focus();
      return;
    }
    const signature = `${action}:${level ?? ""}:${text}`;
    if (!pending.has(signature)) pending.set(signature, uuid4());
    status.textContent = `${action}…`;
    try {
      const result = await api.post(`/warnings/${encodeURIComponent(warning.id)}/actions`,
        { action, level, reason: text, expected_version: warning.version },
        { headers: { "Idempotency-Key": pending.get(signature) } });
      pending.delete(signature);
      onDone(result, `${action}: now ${result.state}, ${levelName(result.level)} (version ${result.version})`);
    } catch (error) {
      const current = error instanceof ApiError && error.status === 409 ? error.body?.current : null;
      if (current) pending.delete(signature);  // the state moved on: a new attempt is a new action
      status.textContent = current
        ? `${error.message} — the warning is now ${current.state ?? ""} ${current.level ?? ""} (version ${current.version ?? "?"}); reload it`
        : error.message;
      status.dataset.outcome = "refused";
    }
  }

  const buttons = [];
  if (warning.state === "raised") buttons.push(h("button", { type: "button", dataset: { action: "issue" }, onclick: () => perform("issue") }, "Issue"));
  if (warning.state === "issued" || warning.state === "raised") {
    buttons.push(h("button", { type: "button", class: "primary", dataset: { action: "acknowledge" },
                               onclick: () => perform("acknowledge") }, "Acknowledge"));
  }
  if (higher.options.length) {
    buttons.push(h("span", { class: "combo" }, higher, h("button", { type: "button", dataset: { action: "upgrade" },
      onclick: () => perform("upgrade", higher.value) }, "Escalate")));
  }
  if (lower.options.length) {
    buttons.push(h("span", { class: "combo" }, lower, h("button", { type: "button", dataset: { action: "downgrade" },
      onclick: () => perform("downgrade", lower.value) }, "Downgrade")));
  }
  buttons.push(h("button", { type: "button", class: "danger", dataset: { action: "lift" }, onclick: () => perform("lift") }, "Lift"));
  replace(section, h("h3", {}, "Actions"), reason, h("div", { class: "buttons" }, buttons), status);
  return section;
}
