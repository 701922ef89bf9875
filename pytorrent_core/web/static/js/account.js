// Account page: change one's own password (the one-time password first of all),
// one's own sign-in sessions (list, sign one or all others out), and one's own API
// tokens: list, create (shown once, with a copy button), revoke.
import { api, appUrl } from "./api.js";
import { clearErrors, confirmDialog, el, showError, when } from "./dom.js";
import { toast } from "./toast.js";

const root = document.getElementById("account-page");
const userId = root ? Number(root.dataset.userId) : null;
const mustChange = root && root.dataset.mustChange === "true";

const passwordForm = document.getElementById("password-form");
if (passwordForm) {
  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(passwordForm);
    const data = Object.fromEntries(new FormData(passwordForm));
    try {
      await api("/api/auth/password", { method: "POST", json: data });
    } catch (error) {
      if (!showError(passwordForm, error)) toast(error.message, { error: true });
      return;
    }
    passwordForm.reset();
    if (mustChange) {
      window.location.assign(appUrl("/"));
      return;
    }
    document.getElementById("password-result").textContent = "Password changed.";
    toast("Password changed. Your other sessions have been signed out.");
  });
}

const sessionTable = document.querySelector("#sessions tbody");

async function loadSessions() {
  if (!sessionTable) return;
  let sessions;
  try {
    ({ sessions } = await api("/api/auth/sessions"));
  } catch (error) {
    toast(`Could not load your sessions: ${error.message}`, { error: true });
    return;
  }
  if (!sessions.length) {
    sessionTable.replaceChildren(el("tr", {}, el("td", { colspan: "5", className: "empty" },
      "No recorded sessions.")));
    return;
  }
  sessionTable.replaceChildren(...sessions.map((session) => {
    const device = [session.agent || "unknown client"];
    if (session.current) device.push(" ", el("span", { className: "tag" }, "this one"));
    let action = "";
    if (!session.current) {
      action = el("button", { type: "button", className: "danger", "data-do": "end-session",
        "aria-label": `Sign out ${session.agent || "session"} from ${session.address || "unknown address"}` },
      "Sign out");
      action.addEventListener("click", () => endSession(session));
    }
    return el("tr", { "data-session-id": session.id, "data-current": String(session.current) },
      el("td", {}, ...device), el("td", {}, session.address || "—"),
      el("td", {}, when(session.created_at)), el("td", {}, when(session.last_seen_at)),
      el("td", { className: "row-actions" }, action));
  }));
}

async function endSession(session) {
  if (!await confirmDialog("Sign this session out?",
    `${session.agent || "The device"} at ${session.address || "an unknown address"} will have to sign in again.`,
    "Sign out")) return;
  try {
    await api(`/api/auth/sessions/${encodeURIComponent(session.id)}`, { method: "DELETE" });
    toast("Session signed out.");
  } catch (error) {
    toast(`Could not sign the session out: ${error.message}`, { error: true });
  }
  loadSessions();
}

const endOthers = document.getElementById("end-other-sessions");
if (endOthers) {
  endOthers.addEventListener("click", async () => {
    if (!await confirmDialog("Sign out all other sessions?",
      "Every other browser signed in as you will have to sign in again.", "Sign out")) return;
    try {
      const { ended } = await api("/api/auth/sessions/end-others", { method: "POST" });
      toast(`Signed out ${ended.length} other session${ended.length === 1 ? "" : "s"}.`);
    } catch (error) {
      toast(`Could not sign the other sessions out: ${error.message}`, { error: true });
    }
    loadSessions();
  });
}
loadSessions();

const tokensPath = () => `/api/auth/users/${userId}/tokens`;
const tokenTable = document.querySelector("#own-tokens tbody");

async function loadTokens() {
  if (!tokenTable) return;
  let tokens;
  try {
    ({ tokens } = await api(tokensPath()));
  } catch (error) {
    toast(`Could not load your API tokens: ${error.message}`, { error: true });
    return;
  }
  if (!tokens.length) {
    tokenTable.replaceChildren(el("tr", {}, el("td", { colspan: "7", className: "empty" },
      "No API tokens yet.")));
    return;
  }
  tokenTable.replaceChildren(...tokens.map((token) => {
    const revoke = el("button", { type: "button", className: "danger",
      "aria-label": `Revoke ${token.name}` }, "Revoke");
    revoke.disabled = token.state !== "active";
    revoke.addEventListener("click", () => revokeToken(token));
    return el("tr", { "data-token-id": String(token.id) },
      el("td", {}, token.name), el("td", {}, el("code", {}, `${token.prefix}…`)),
      el("td", {}, when(token.created_at)), el("td", {}, when(token.expires_at)),
      el("td", {}, when(token.last_used_at)),
      el("td", {}, el("span", { className: "state-tag", "data-state": token.state }, token.state)),
      el("td", { className: "row-actions" }, revoke));
  }));
}

async function revokeToken(token) {
  if (!await confirmDialog("Revoke token?", `Scripts using "${token.name}" will stop working at once.`,
    "Revoke")) return;
  try {
    await api(`${tokensPath()}/${token.id}`, { method: "DELETE" });
    toast(`Revoked ${token.name}.`);
  } catch (error) {
    toast(`Could not revoke: ${error.message}`, { error: true });
  }
  loadTokens();
}

const tokenForm = document.getElementById("token-create");
if (tokenForm) {
  tokenForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(tokenForm);
    const form = new FormData(tokenForm);
    const json = { name: form.get("name") };
    const days = String(form.get("expires_in_days") || "").trim();
    if (days) json.expires_in_days = Number(days);
    let made;
    try {
      made = await api(tokensPath(), { method: "POST", json });
    } catch (error) {
      if (!showError(tokenForm, error)) toast(error.message, { error: true });
      return;
    }
    tokenForm.reset();
    document.getElementById("token-value").value = made.token;
    document.getElementById("token-once").hidden = false;
    document.getElementById("copy-token").focus();
    toast(`Created ${made.record.name}.`);
    loadTokens();
  });
  document.getElementById("copy-token").addEventListener("click", async () => {
    const input = document.getElementById("token-value");
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand("copy");
    }
    toast("Token copied.");
  });
  loadTokens();
}
