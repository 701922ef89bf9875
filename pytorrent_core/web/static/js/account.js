// Account page: change one's own password (the one-time password first of all),
// two-factor sign-in (enrol with a QR code or the typed key, recovery codes shown
// once, new recovery codes, turn off), one's own sign-in sessions (list, sign one or
// all others out), and one's own API tokens: list, create (shown once, with a copy
// button), revoke.
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
      el("td", {}, ...device), el("td", { "data-label": "Address" }, session.address || "—"),
      el("td", { "data-label": "Signed in" }, when(session.created_at)),
      el("td", { "data-label": "Last seen" }, when(session.last_seen_at)),
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
const profileNames = new Map();

// "ro on seedbox, home" / "full on every profile" / "my access".
export function scopeText(scope) {
  if (!scope) return "my access";
  const where = scope.profiles
    ? scope.profiles.map((id) => profileNames.get(id) || `#${id}`).join(", ")
    : "every profile";
  return `${scope.permission} on ${where}`;
}

function lastUse(token) {
  if (!token.last_used_at) return when(null);
  return token.last_used_address
    ? `${when(token.last_used_at)} from ${token.last_used_address}` : when(token.last_used_at);
}

async function loadProfileChoices() {
  const box = document.getElementById("token-profiles");
  if (!box) return;
  let profiles = [];
  try {
    ({ profiles } = await api("/api/profiles"));
  } catch (error) {
    toast(`Could not load your profiles: ${error.message}`, { error: true });
  }
  for (const profile of profiles) profileNames.set(profile.id, profile.name);
  const error = box.querySelector(".field-error");
  box.replaceChildren(box.querySelector("legend"), ...profiles.map((profile) => el("label",
    { className: "inline" }, el("input", { type: "checkbox", name: "profiles",
      value: String(profile.id), "data-profile": profile.name }), profile.name)), error);
}

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
    tokenTable.replaceChildren(el("tr", {}, el("td", { colspan: "8", className: "empty" },
      "No API tokens yet.")));
    return;
  }
  tokenTable.replaceChildren(...tokens.map((token) => {
    const revoke = el("button", { type: "button", className: "danger",
      "aria-label": `Revoke ${token.name}` }, "Revoke");
    revoke.disabled = token.state !== "active";
    revoke.addEventListener("click", () => revokeToken(token));
    return el("tr", { "data-token-id": String(token.id) },
      el("td", { "data-label": "Name" }, token.name),
      el("td", { "data-label": "Prefix" }, el("code", {}, `${token.prefix}…`)),
      el("td", { "data-label": "Created" }, when(token.created_at)),
      el("td", { "data-label": "Expires" }, when(token.expires_at)),
      el("td", { className: "token-scope", "data-label": "Scope" }, scopeText(token.scope)),
      el("td", { className: "token-last-use", "data-label": "Last used" }, lastUse(token)),
      el("td", { "data-label": "State" },
        el("span", { className: "state-tag", "data-state": token.state }, token.state)),
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
    const permission = String(form.get("permission") || "");
    if (permission) json.permission = permission;
    const profiles = form.getAll("profiles").map(Number);
    if (profiles.length) json.profiles = profiles;
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
  loadProfileChoices().then(loadTokens);
}

// ------------------------------------------------------------------ two-factor sign-in

const twoFactor = document.getElementById("two-factor");
const startButton = document.getElementById("two-factor-start");
if (startButton) {
  startButton.addEventListener("click", async () => {
    let setup;
    try {
      setup = await api("/api/auth/2fa/setup", { method: "POST", json: {} });
    } catch (error) {
      toast(`Could not start: ${error.message}`, { error: true });
      return;
    }
    document.getElementById("two-factor-qr").src = `${appUrl(setup.qr)}?${Date.now()}`;
    document.getElementById("two-factor-secret").textContent = setup.secret_grouped;
    document.getElementById("two-factor-enrol").hidden = false;
    startButton.hidden = true;
    document.getElementById("confirm-code").focus();
  });
}

const confirmForm = document.getElementById("two-factor-confirm");
if (confirmForm) {
  confirmForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(confirmForm);
    const code = String(new FormData(confirmForm).get("code") || "");
    let done;
    try {
      done = await api("/api/auth/2fa/confirm", { method: "POST", json: { code } });
    } catch (error) {
      if (!showError(confirmForm, error)) toast(error.message, { error: true });
      return;
    }
    document.getElementById("two-factor-enrol").hidden = true;
    document.getElementById("two-factor-state").textContent =
      "On: signing in asks for a code from your authenticator app after the password.";
    showRecoveryCodes(done.recovery_codes);
    twoFactor.dataset.enabled = "true";
    toast("Two-factor sign-in is on.");
  });
}

function showRecoveryCodes(codes) {
  document.getElementById("recovery-codes").replaceChildren(
    ...codes.map((recovery) => el("li", {}, el("code", {}, recovery))));
  document.getElementById("two-factor-codes").hidden = false;
}

// Passwords have at least eight characters: six digits can only be a code from the app.
const renewForm = document.getElementById("recovery-renew");
if (renewForm) {
  renewForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(renewForm);
    const proof = String(new FormData(renewForm).get("proof") || "");
    const json = /^\s*\d{3}\s?\d{3}\s*$/.test(proof) ? { code: proof } : { password: proof };
    let done;
    try {
      done = await api("/api/auth/2fa/recovery-codes", { method: "POST", json });
    } catch (error) {
      if (!showError(renewForm, error)) toast(error.message, { error: true });
      return;
    }
    renewForm.reset();
    showRecoveryCodes(done.recovery_codes);
    document.getElementById("recovery-codes-replaced").hidden = false;
    document.getElementById("recovery-codes-left").textContent = String(done.recovery_codes.length);
    document.getElementById("two-factor-continue").focus();
    toast("New recovery codes made; the old ones no longer work.");
  });
}

const disableForm = document.getElementById("two-factor-disable");
if (disableForm) {
  disableForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(disableForm);
    const code = String(new FormData(disableForm).get("code") || "");
    try {
      await api("/api/auth/2fa/disable", { method: "POST", json: { code } });
    } catch (error) {
      if (!showError(disableForm, error)) toast(error.message, { error: true });
      return;
    }
    toast("Two-factor sign-in is off.");
    window.location.reload();
  });
}
