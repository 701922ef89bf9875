// Small DOM helpers shared by the admin and account pages: element builder,
// errors shown beside the field the API names, and <dialog>-based confirm/prompt.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "value") node.value = value;
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// Errors from the API come as {"error", "field"}: put the message beside that field
// (or in the form's general slot) and mark the input invalid.
export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

export function showError(form, error) {
  const field = error.body && error.body.field;
  const slot = (field && form.querySelector(`[data-error-for="${CSS.escape(field)}"]`))
    || form.querySelector('[data-error-for="*"]');
  if (slot) slot.textContent = error.message;
  const input = field && form.querySelector(`[name="${CSS.escape(field)}"]`);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    const slotId = slot && (slot.id || (slot.id = `error-${field}-${Math.random().toString(36).slice(2)}`));
    if (slotId) input.setAttribute("aria-describedby", slotId);
    input.focus();
  }
  return Boolean(slot);
}

function modal(title, build, okText, okClass) {
  return new Promise((resolve) => {
    const dialog = el("dialog", { "aria-labelledby": "modal-title", className: "modal" });
    const form = el("form", { method: "dialog" });
    const cancel = el("button", { type: "button" }, "Cancel");
    const ok = el("button", { type: "submit", className: okClass }, okText);
    const extra = build(form);
    form.append(el("div", { className: "actions" }, cancel, ok));
    dialog.append(el("h2", { id: "modal-title" }, title), form);
    document.body.append(dialog);
    let answer = null;
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answer = extra ? extra.value : true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
    (extra || ok).focus();
  });
}

export function confirmDialog(title, text, okText = "Delete") {
  return modal(title, (form) => {
    form.append(el("p", {}, text));
    return null;
  }, okText, "danger").then(Boolean);
}

export function promptDialog(title, label, { type = "text", autocomplete = "off" } = {}) {
  return modal(title, (form) => {
    const input = el("input", { type, autocomplete, required: true, id: "modal-input" });
    form.append(el("label", {}, label, input));
    return input;
  }, "Save", "primary");
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
