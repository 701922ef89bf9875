// Profile picker: one card per profile with rTorrent's reachability; choosing
// saves the profile in the user's preferences, then reloads into it.
import { api, profilePath } from "./js/api.js";

const picker = document.getElementById("profile-picker");

async function reachability(node) {
  const id = node.dataset.statusFor;
  try {
    const status = await api(profilePath(id, "/status"));
    node.dataset.state = status.connected ? "up" : "down";
    node.textContent = status.connected
      ? `Reachable${status.client_version ? ` · rTorrent ${status.client_version}` : ""}`
        + `${status.torrents != null ? ` · ${status.torrents} torrents` : ""}`
      : `Unreachable${status.error ? `: ${status.error}` : ""}`;
  } catch (error) {
    node.dataset.state = "unknown";
    node.textContent = `Status unknown: ${error.message}`;
  }
}

if (picker) {
  const status = document.createElement("p");
  status.id = "picker-status";
  status.setAttribute("role", "status");
  picker.append(status);
  picker.querySelectorAll("[data-status-for]").forEach(reachability);

  picker.addEventListener("click", async (event) => {
    const button = event.target.closest(".pick-profile");
    if (!button) return;
    event.preventDefault();
    const buttons = picker.querySelectorAll(".pick-profile");
    buttons.forEach((b) => { b.disabled = true; });
    status.textContent = "Saving your choice…";
    status.className = "";
    try {
      await api(profilePath(button.dataset.profileId, "/activate"), { method: "POST", json: {} });
      window.location.reload();
    } catch (error) {
      status.textContent = `Could not save the profile: ${error.message}`;
      status.className = "error";
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}
