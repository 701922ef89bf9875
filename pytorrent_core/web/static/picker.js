// Profile picker: save the chosen profile in the user's preferences, then reload.
(function () {
  "use strict";

  var picker = document.getElementById("profile-picker");
  if (!picker) {
    return;
  }
  var status = document.createElement("p");
  status.id = "picker-status";
  status.setAttribute("role", "status");
  picker.appendChild(status);

  function choose(button) {
    var id = button.dataset.profileId;
    var buttons = picker.querySelectorAll(".pick-profile");
    buttons.forEach(function (b) { b.disabled = true; });
    status.textContent = "Saving your choice…";
    status.className = "";
    // Relative to the page, so a reverse proxy's path prefix is kept.
    fetch("api/profiles/" + encodeURIComponent(id) + "/activate", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (reply) {
      if (reply.ok) {
        window.location.reload();
        return null;
      }
      return reply.json().catch(function () { return {}; }).then(function (body) {
        throw new Error(body.error || ("HTTP " + reply.status));
      });
    }).catch(function (error) {
      status.textContent = "Could not save the profile: " + error.message;
      status.className = "error";
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  picker.addEventListener("click", function (event) {
    var button = event.target.closest(".pick-profile");
    if (button) {
      event.preventDefault();
      choose(button);
    }
  });
})();
