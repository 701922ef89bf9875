// Main page: keep the connection badge in step with the Socket.IO connection.
(function () {
  "use strict";

  var badge = document.getElementById("connection-badge");

  function show(state) {
    if (!badge) {
      return;
    }
    badge.textContent = state;
    badge.dataset.state = state;
    badge.classList.toggle("online", state === "online");
    badge.classList.toggle("offline", state !== "online");
  }

  show("offline");
  if (typeof window.io !== "function") {
    return;
  }
  // Same origin: the browser sends the session cookie with the handshake, and the
  // server resolves it exactly as it does for REST requests.
  var socket = window.io({ withCredentials: true });
  socket.on("connect", function () { show("online"); });
  socket.on("disconnect", function () { show("offline"); });
  socket.on("connect_error", function () { show("offline"); });
  window.pytorrentSocket = socket;
})();
