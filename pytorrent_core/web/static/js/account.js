// Account page: change one's own password (the one-time password first of all).
const form = document.getElementById("password-form");
const result = document.getElementById("password-result");

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const reply = await fetch("/api/auth/password", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data),
    });
    const body = await reply.json().catch(() => ({}));
    if (reply.ok) {
      result.textContent = "Password changed.";
      if (document.getElementById("password-change-required")) {
        window.location.assign("/");
      }
      form.reset();
    } else {
      result.textContent = body.error || `Failed (${reply.status})`;
    }
  });
}
