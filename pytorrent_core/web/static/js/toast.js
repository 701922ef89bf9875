// Short messages in a polite live region; errors stay longer.

let region = null;

export function toast(message, { error = false, timeout } = {}) {
  if (!region) {
    region = document.createElement("div");
    region.className = "toasts";
    region.setAttribute("role", "status");
    region.setAttribute("aria-live", "polite");
    document.body.append(region);
  }
  const item = document.createElement("div");
  item.className = error ? "toast error" : "toast";
  item.textContent = message;
  region.append(item);
  setTimeout(() => item.remove(), timeout ?? (error ? 10000 : 4000));
  return item;
}
