// Admin pages (users, one user's sessions, profiles, API tokens, audit log). The server
// renders the shells and refuses non-admins; this module fills them from the same REST
// APIs the `pytorrent` command and scripts use. API errors appear beside the field they
// name, successes as toasts.
import { api, appUrl, profilePath } from "./api.js";
import { clearErrors, confirmDialog, el, promptDialog, showError, when } from "./dom.js";
import { toast } from "./toast.js";

const root = document.getElementById("admin");
const external = root.dataset.external === "true";
const selfId = Number(root.dataset.selfId);
const LEVELS = ["none", "ro", "full"];

const fail = (what) => (error) => toast(`${what}: ${error.message}`, { error: true });

function formJson(form) {
  const json = {};
  for (const [key, value] of new FormData(form)) {
    const text = String(value).trim();
    if (text !== "") json[key] = key === "password" ? String(value) : text;
  }
  return json;
}

function onSubmit(form, send) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await send(formJson(form));
      form.reset();
    } catch (error) {
      if (!showError(form, error)) toast(error.message, { error: true });
    } finally {
      button.disabled = false;
    }
  });
}

// ------------------------------------------------------------------ users

class UsersPage {
  constructor() {
    this.users = [];
    this.profiles = [];
    this.table = document.querySelector("#users-table tbody");
    this.grid = document.getElementById("permissions-grid");
    onSubmit(document.getElementById("user-create"), async (json) => {
      const { user } = await api("/api/auth/users", { method: "POST", json });
      toast(`Created user ${user.username}.`);
      await this.load();
    });
    this.load();
  }

  async load() {
    try {
      const [{ users }, { profiles }] = await Promise.all([api("/api/auth/users"), api("/api/profiles")]);
      this.users = users;
      this.profiles = profiles;
    } catch (error) {
      fail("Could not load users")(error);
      return;
    }
    this.renderUsers();
    this.renderGrid();
  }

  async update(user, json, done) {
    try {
      const { user: saved } = await api(`/api/auth/users/${user.id}`, { method: "PUT", json });
      Object.assign(user, saved);
      toast(done(saved));
    } catch (error) {
      fail(`Could not change ${user.username}`)(error);
    }
    await this.load();
  }

  renderUsers() {
    this.table.replaceChildren(...this.users.map((user) => {
      const name = user.display_name && user.display_name !== user.username
        ? [el("strong", {}, user.username), el("span", { className: "hint" }, ` ${user.display_name}`)]
        : [el("strong", {}, user.username)];
      if (user.id === selfId) name.push(el("span", { className: "tag" }, "you"));
      if (user.builtin) name.push(el("span", { className: "tag" }, "built-in"));

      const role = el("select", { "aria-label": `Role of ${user.username}`, "data-field": "role" },
        ...["user", "admin"].map((r) => el("option", { value: r, selected: r === user.role }, r)));
      role.addEventListener("change", () => this.update(user, { role: role.value },
        (u) => `${u.username} is now ${u.role}.`));

      const active = el("input", { type: "checkbox", "aria-label": `${user.username} is active`,
        "data-field": "active", checked: user.active });
      active.addEventListener("change", () => this.update(user, { active: active.checked },
        (u) => `${u.username} ${u.active ? "activated" : "deactivated"}.`));

      const buttons = [el("a", { className: "button", href: appUrl(`/admin/users/${user.id}`),
        "data-do": "sessions", "aria-label": `Sessions of ${user.username}` }, "Sessions")];
      if (!external) {
        const reset = el("button", { type: "button", "data-do": "reset-password" }, "Reset password…");
        reset.addEventListener("click", () => this.resetPassword(user));
        buttons.push(reset);
      }
      if (user.two_factor) {
        const resetTwoFactor = el("button", { type: "button", "data-do": "reset-2fa" }, "Reset 2FA…");
        resetTwoFactor.addEventListener("click", () => this.resetTwoFactor(user));
        buttons.push(resetTwoFactor);
      }
      const remove = el("button", { type: "button", className: "danger", "data-do": "delete" }, "Delete…");
      remove.disabled = user.id === selfId || user.builtin;
      remove.addEventListener("click", () => this.remove(user));
      buttons.push(remove);

      const signIn = (user.provider ? `via ${user.provider}` : (user.has_password ? "password" : "no password"))
        + (user.two_factor ? " + 2FA" : "");
      return el("tr", { "data-user-id": String(user.id), "data-username": user.username },
        el("th", { scope: "row" }, ...name), el("td", { "data-label": "Role" }, role),
        el("td", {}, el("label", { className: "inline" }, active, user.active ? "active" : "inactive")),
        el("td", { className: "hint", "data-label": "Sign-in" }, signIn),
        el("td", { className: "row-actions" }, ...buttons));
    }));
  }

  async resetPassword(user) {
    const password = await promptDialog(`New password for ${user.username}`, "New password",
      { type: "password", autocomplete: "new-password" });
    if (!password) return;
    await this.update(user, { password }, (u) => `Password of ${u.username} changed; their sessions ended.`);
  }

  async resetTwoFactor(user) {
    if (!await confirmDialog(`Reset two-factor sign-in of ${user.username}?`,
      "Their authenticator and recovery codes stop working; the password alone signs them in "
      + "until they set it up again.", "Reset")) return;
    try {
      await api(`/api/auth/users/${user.id}/2fa/reset`, { method: "POST", json: {} });
      toast(`Two-factor sign-in of ${user.username} reset.`);
    } catch (error) {
      fail(`Could not reset ${user.username}`)(error);
    }
    await this.load();
  }

  async remove(user) {
    if (!await confirmDialog(`Delete ${user.username}?`,
      "Their API tokens and profile access go with them. This cannot be undone.")) return;
    try {
      await api(`/api/auth/users/${user.id}`, { method: "DELETE" });
      toast(`Deleted ${user.username}.`);
    } catch (error) {
      fail(`Could not delete ${user.username}`)(error);
    }
    await this.load();
  }

  renderGrid() {
    const columns = [{ key: "*", name: "All profiles" },
      ...this.profiles.map((p) => ({ key: String(p.id), name: p.name }))];
    const head = el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "User"),
      ...columns.map((c) => el("th", { scope: "col", "data-profile": c.key }, c.name))));
    const body = el("tbody", {}, ...this.users.map((user) => el("tr", { "data-username": user.username },
      el("th", { scope: "row" }, user.username),
      ...columns.map((column) => el("td", { "data-profile": column.key },
        this.levelCell(user, column))))));
    this.grid.replaceChildren(head, body);
    if (!this.profiles.length) {
      this.grid.append(el("caption", { className: "hint" },
        "No profiles yet: add one on the Profiles page."));
    }
  }

  levelCell(user, column) {
    if (user.role === "admin") return el("span", { className: "tag" }, "all");
    const current = user.permissions[column.key] || "none";
    const select = el("select", { "aria-label": `${user.username}: ${column.name}`,
      "data-user": user.username, "data-profile": column.key },
    ...LEVELS.map((level) => el("option", { value: level, selected: level === current }, level)));
    select.addEventListener("change", () => {
      const permissions = { ...user.permissions, [column.key]: select.value };
      for (const key of Object.keys(permissions)) if (permissions[key] === "none") delete permissions[key];
      this.update(user, { permissions },
        (u) => `${u.username}: ${column.name} is now ${select.value}.`);
    });
    return select;
  }
}

// ------------------------------------------------------------------ one user

class UserPage {
  constructor() {
    const card = document.getElementById("admin-user");
    this.userId = Number(card.dataset.userId);
    this.username = card.dataset.username;
    this.table = document.querySelector("#user-sessions tbody");
    this.endAll = document.getElementById("end-all-sessions");
    this.endAll.addEventListener("click", () => this.signOutAll());
    this.load();
  }

  get path() {
    return `/api/auth/users/${this.userId}/sessions`;
  }

  async load() {
    let sessions;
    try {
      ({ sessions } = await api(this.path));
    } catch (error) {
      fail(`Could not load the sessions of ${this.username}`)(error);
      return;
    }
    this.endAll.disabled = !sessions.some((session) => !session.current);
    if (!sessions.length) {
      this.table.replaceChildren(el("tr", {}, el("td", { colspan: "6", className: "empty" },
        "No sessions: not signed in anywhere.")));
      return;
    }
    this.table.replaceChildren(...sessions.map((session) => {
      const device = [session.agent || "unknown client"];
      if (session.remember) device.push(" ", el("span", { className: "tag" }, "remembered"));
      if (session.current) device.push(" ", el("span", { className: "tag" }, "this one"));
      let action = "";
      if (!session.current) {
        action = el("button", { type: "button", className: "danger", "data-do": "end-session",
          "aria-label": `Sign out ${session.agent || "session"} from ${session.address || "unknown address"}` },
        "Sign out");
        action.addEventListener("click", () => this.signOut(session));
      }
      return el("tr", { "data-session-id": session.id, "data-current": String(session.current) },
        el("td", {}, ...device), el("td", { "data-label": "Address" }, session.address || "—"),
        el("td", { "data-label": "Signed in" }, when(session.created_at)),
        el("td", { "data-label": "Last seen" }, when(session.last_seen_at)),
        el("td", { "data-label": "Expires" }, when(session.expires_at)),
        el("td", { className: "row-actions" }, action));
    }));
  }

  async signOut(session) {
    if (!await confirmDialog(`Sign this session of ${this.username} out?`,
      `${session.agent || "The device"} at ${session.address || "an unknown address"} will have to sign in again.`,
      "Sign out")) return;
    try {
      await api(`${this.path}/${encodeURIComponent(session.id)}`, { method: "DELETE" });
      toast(`Signed out a session of ${this.username}.`);
    } catch (error) {
      fail("Could not sign the session out")(error);
    }
    this.load();
  }

  async signOutAll() {
    if (!await confirmDialog(`Sign out every session of ${this.username}?`,
      "Every browser signed in as them will have to sign in again.", "Sign out")) return;
    try {
      const { ended } = await api(`${this.path}/end-all`, { method: "POST", json: {} });
      toast(`Signed out ${ended.length} session${ended.length === 1 ? "" : "s"} of ${this.username}.`);
    } catch (error) {
      fail("Could not sign the sessions out")(error);
    }
    this.load();
  }
}

// ------------------------------------------------------------------ profiles

class ProfilesPage {
  constructor() {
    this.list = document.getElementById("profile-list");
    onSubmit(document.getElementById("profile-create"), async (json) => {
      const { profile } = await api("/api/profiles", { method: "POST", json });
      toast(`Added profile ${profile.name}.`);
      await this.load();
    });
    this.load();
  }

  async load() {
    let profiles;
    try {
      ({ profiles } = await api("/api/profiles"));
    } catch (error) {
      fail("Could not load profiles")(error);
      return;
    }
    if (!profiles.length) {
      this.list.replaceChildren(el("p", { className: "card hint" }, "No profiles yet."));
      return;
    }
    const labels = await Promise.all(profiles.map((p) => api(profilePath(p.id, "/labels"))
      .then((r) => r.labels).catch(() => [])));
    this.list.replaceChildren(...profiles.map((p, i) => this.card(p, labels[i])));
  }

  field(id, label, name, value, wide = false) {
    const input = el("input", { id, name, type: "text", autocomplete: "off", value: value ?? "" });
    return el("div", { className: wide ? "field field-wide" : "field" },
      el("label", { for: id }, label), input, el("span", { className: "field-error", "data-error-for": name }));
  }

  card(profile, labels) {
    const p = `profile-${profile.id}`;
    const settings = el("form", { className: "form-row", novalidate: true },
      this.field(`${p}-name`, "Name", "name", profile.name),
      this.field(`${p}-url`, "SCGI address", "scgi_url", profile.scgi_url, true),
      this.field(`${p}-root`, "Data root (optional)", "data_root", profile.data_root),
      el("div", { className: "field field-submit" }, el("button", { type: "submit" }, "Save"),
        el("span", { className: "field-error", "data-error-for": "*" })));
    settings.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(settings);
      const data = new FormData(settings);
      const json = { name: data.get("name"), scgi_url: data.get("scgi_url"),
        data_root: String(data.get("data_root")).trim() || null };
      try {
        const { profile: saved } = await api(profilePath(profile.id), { method: "PATCH", json });
        toast(`Saved ${saved.name}.`);
        heading.textContent = saved.name;
      } catch (error) {
        if (!showError(settings, error)) fail("Could not save")(error);
      }
    });

    const labelForm = el("form", { className: "form-row", novalidate: true },
      el("div", { className: "field field-wide" }, el("label", { for: `${p}-labels` }, "Labels (comma-separated)"),
        el("input", { id: `${p}-labels`, name: "labels", type: "text", value: labels.join(", ") }),
        el("span", { className: "field-error", "data-error-for": "labels" })),
      el("div", { className: "field field-submit" }, el("button", { type: "submit" }, "Save labels"),
        el("span", { className: "field-error", "data-error-for": "*" })));
    labelForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(labelForm);
      const list = String(new FormData(labelForm).get("labels")).split(",").map((l) => l.trim()).filter(Boolean);
      try {
        const { labels: saved } = await api(profilePath(profile.id, "/labels"), { method: "PUT", json: { labels: list } });
        labelForm.elements.labels.value = saved.join(", ");
        toast(`Labels of ${profile.name} saved.`);
      } catch (error) {
        if (!showError(labelForm, error)) fail("Could not save labels")(error);
      }
    });

    const result = el("span", { className: "reach", "data-state": "unknown", role: "status" });
    const test = el("button", { type: "button", "data-do": "test" }, "Test connection");
    test.addEventListener("click", async () => {
      result.dataset.state = "unknown";
      result.textContent = "Asking rTorrent…";
      try {
        const status = await api(profilePath(profile.id, "/status"));
        result.dataset.state = status.connected ? "up" : "down";
        result.textContent = status.connected
          ? `Connected: rTorrent ${status.client_version}, ${status.torrents} torrents`
          : `Not reachable: ${status.error}`;
      } catch (error) {
        result.dataset.state = "down";
        result.textContent = `Not reachable: ${error.message}`;
      }
    });
    const remove = el("button", { type: "button", className: "danger", "data-do": "delete" }, "Delete…");
    remove.addEventListener("click", async () => {
      if (!await confirmDialog(`Delete profile ${profile.name}?`,
        "pyTorrent forgets it and everyone's access to it. rTorrent and its downloads are not touched.")) return;
      try {
        await api(profilePath(profile.id), { method: "DELETE" });
        toast(`Deleted profile ${profile.name}.`);
      } catch (error) {
        fail("Could not delete")(error);
      }
      this.load();
    });

    const heading = el("h2", { id: `${p}-title` }, profile.name);
    return el("section", { className: "card profile-admin", "aria-labelledby": `${p}-title`,
      "data-profile-id": String(profile.id) },
    el("div", { className: "card-head" }, heading, el("span", { className: "hint" }, `#${profile.id}`)),
    settings, labelForm,
    el("div", { className: "form-row actions-row" }, test, result, el("span", { className: "spacer" }), remove));
  }
}

// ------------------------------------------------------------------ tokens

// "ro on profiles 1, 3" / "full on every profile" / "owner's access".
function scopeOf(scope) {
  if (!scope) return "owner's access";
  const where = scope.profiles ? `profiles ${scope.profiles.join(", ")}` : "every profile";
  return `${scope.permission} on ${where}`;
}

class TokensPage {
  constructor() {
    this.table = document.querySelector("#tokens-table tbody");
    this.load();
  }

  async load() {
    let tokens;
    try {
      ({ tokens } = await api("/api/auth/tokens"));
    } catch (error) {
      fail("Could not load tokens")(error);
      return;
    }
    if (!tokens.length) {
      this.table.replaceChildren(el("tr", {}, el("td", { colspan: "9", className: "empty" },
        "No API tokens. Users create them on their account page.")));
      return;
    }
    this.table.replaceChildren(...tokens.map((token) => {
      const revoke = el("button", { type: "button", className: "danger",
        "aria-label": `Revoke ${token.name} of ${token.username}` }, "Revoke");
      revoke.disabled = token.state !== "active";
      revoke.addEventListener("click", () => this.revoke(token));
      return el("tr", { "data-token-id": String(token.id) },
        el("td", { "data-label": "Owner" }, token.username),
        el("td", { "data-label": "Name" }, token.name),
        el("td", { "data-label": "Prefix" }, el("code", {}, `${token.prefix}…`)),
        el("td", { "data-label": "Created" }, when(token.created_at)),
        el("td", { "data-label": "Expires" }, when(token.expires_at)),
        el("td", { "data-label": "Scope" }, scopeOf(token.scope)),
        el("td", { "data-label": "Last used" }, token.last_used_address
          ? `${when(token.last_used_at)} from ${token.last_used_address}` : when(token.last_used_at)),
        el("td", { "data-label": "State" },
          el("span", { className: "state-tag", "data-state": token.state }, token.state)),
        el("td", { className: "row-actions" }, revoke));
    }));
  }

  async revoke(token) {
    if (!await confirmDialog("Revoke token?",
      `"${token.name}" of ${token.username} stops working at once.`, "Revoke")) return;
    try {
      await api(`/api/auth/users/${token.user_id}/tokens/${token.id}`, { method: "DELETE" });
      toast(`Revoked ${token.name} of ${token.username}.`);
    } catch (error) {
      fail("Could not revoke")(error);
    }
    this.load();
  }
}

// ------------------------------------------------------------------ audit log

class AuditPage {
  constructor() {
    this.form = document.getElementById("audit-filter");
    this.table = document.querySelector("#audit-table tbody");
    this.older = document.getElementById("audit-older");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.load();
    });
    this.older.addEventListener("click", () => this.load(this.nextBeforeId));
    this.load();
  }

  query(beforeId) {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(this.form)) {
      const text = String(value).trim();
      if (text) params.set(key, text);
    }
    if (beforeId) params.set("before_id", String(beforeId));
    return `/api/audit?${params}`;
  }

  async load(beforeId = null) {
    clearErrors(this.form);
    let reply;
    try {
      reply = await api(this.query(beforeId));
    } catch (error) {
      if (!showError(this.form, error)) fail("Could not load the audit log")(error);
      return;
    }
    const rows = reply.events.map((event) => el("tr", { "data-event-id": String(event.id), "data-kind": event.kind },
      el("td", { className: "nowrap" }, when(event.at)),
      el("td", { className: "nowrap" }, el("code", {}, event.kind)),
      el("td", {}, el("span", { className: "state-tag", "data-state": event.outcome }, event.outcome)),
      el("td", {}, event.actor || "—"), el("td", {}, event.address || "—"),
      el("td", {}, event.provider || "—"), el("td", {}, event.target || "—"),
      el("td", { className: "hint" }, event.detail === null ? "" : JSON.stringify(event.detail))));
    if (beforeId) this.table.append(...rows);
    else if (rows.length) this.table.replaceChildren(...rows);
    else this.table.replaceChildren(el("tr", {}, el("td", { colspan: "8", className: "empty" }, "No events match.")));
    this.nextBeforeId = reply.next_before_id;
    this.older.hidden = !this.nextBeforeId;
  }
}

const PAGES = { users: UsersPage, user: UserPage, profiles: ProfilesPage, tokens: TokensPage,
  audit: AuditPage };
const Page = PAGES[root.dataset.section];
if (Page) window.pytorrentAdmin = new Page();
