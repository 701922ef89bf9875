// Dialogs: add torrents, confirm removal, set label. Built on <dialog>, so
// focus is trapped and Escape closes them without our help.

import { api, profilePath } from "./api.js";

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function shell(id, title) {
  const dialog = el("dialog", { id, "aria-labelledby": `${id}-title` });
  const form = el("form", { method: "dialog" });
  dialog.append(el("h2", { id: `${id}-title` }, title), form);
  document.body.append(dialog);
  return [dialog, form];
}

function actions(okText, okClass = "primary") {
  const cancel = el("button", { type: "button", value: "cancel" }, "Cancel");
  const ok = el("button", { type: "submit", className: okClass, value: "ok" }, okText);
  return [el("div", { className: "actions" }, cancel, ok), cancel, ok];
}

function labelOptions(list, labels) {
  list.replaceChildren(...labels.map((l) => el("option", { value: l })));
}

const isTorrentFile = (file) => /\.torrent$/i.test(file.name) || file.type === "application/x-bittorrent";

// ------------------------------------------------------------------ add

export class AddDialog {
  constructor({ profile, onAdded }) {
    this.profile = profile; // { id, labels }
    this.onAdded = onAdded;
    this.files = [];
    const [dialog, form] = shell("add-dialog", "Add torrents");
    this.dialog = dialog;
    this.input = el("input", { type: "file", id: "add-files", multiple: true,
      accept: ".torrent,application/x-bittorrent", className: "visually-hidden" });
    const pick = el("label", { for: "add-files", className: "button" }, "Choose .torrent files…");
    this.drop = el("div", { className: "dropzone", id: "add-drop" },
      el("p", {}, "Drop .torrent files here, or "), pick, this.input);
    this.fileList = el("ul", { className: "file-list", id: "add-file-list" });
    this.uris = el("textarea", { id: "add-uris", name: "uris", rows: "4",
      placeholder: "magnet:?xt=urn:btih:…" });
    this.labelInput = el("input", { type: "text", id: "add-label", name: "label", list: "add-label-list",
      autocomplete: "off" });
    this.labelList = el("datalist", { id: "add-label-list" });
    this.directory = el("input", { type: "text", id: "add-directory", name: "directory",
      placeholder: "Default download directory" });
    this.start = el("input", { type: "checkbox", id: "add-start", name: "start", checked: true });
    this.errors = el("ul", { className: "item-errors", id: "add-errors", role: "alert" });
    const [bar, cancel, ok] = actions("Add");
    this.ok = ok;
    form.append(this.drop, this.fileList,
      el("label", {}, "Magnet links or URLs, one per line", this.uris),
      el("label", {}, "Label", this.labelInput, this.labelList),
      el("label", {}, "Download directory", this.directory),
      el("label", { className: "inline" }, this.start, "Start when added"),
      this.errors, bar);
    cancel.addEventListener("click", () => dialog.close());
    this.input.addEventListener("change", () => this.addFiles(this.input.files));
    for (const type of ["dragenter", "dragover"]) {
      this.drop.addEventListener(type, (event) => {
        event.preventDefault();
        this.drop.classList.add("over");
      });
    }
    this.drop.addEventListener("dragleave", () => this.drop.classList.remove("over"));
    this.drop.addEventListener("drop", (event) => {
      event.preventDefault();
      this.drop.classList.remove("over");
      this.addFiles(event.dataTransfer.files);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  addFiles(list) {
    for (const file of list) {
      if (isTorrentFile(file) && !this.files.some((f) => f.name === file.name)) this.files.push(file);
    }
    this.input.value = "";
    this.renderFiles();
  }

  renderFiles() {
    this.fileList.replaceChildren(...this.files.map((file, i) => {
      const remove = el("button", { type: "button", "aria-label": `Remove ${file.name}` }, "✕");
      remove.addEventListener("click", () => {
        this.files.splice(i, 1);
        this.renderFiles();
      });
      return el("li", {}, `${file.name} `, remove);
    }));
  }

  open(files = []) {
    this.files = [];
    this.errors.replaceChildren();
    labelOptions(this.labelList, this.profile.labels || []);
    this.addFiles(files);
    this.dialog.showModal();
  }

  async submit() {
    const uris = this.uris.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    if (!this.files.length && !uris.length) {
      this.errors.replaceChildren(el("li", {}, "Choose a .torrent file or paste a magnet link."));
      return;
    }
    const common = { start: this.start.checked, label: this.labelInput.value.trim(),
      directory: this.directory.value.trim() };
    const path = profilePath(this.profile.id, "/torrents");
    const errors = [];
    const added = [];
    this.ok.disabled = true;
    const collect = (error) => {
      const body = error.body || {};
      if (Array.isArray(body.errors)) errors.push(...body.errors);
      else errors.push({ item: body.item || "", error: error.message });
      if (Array.isArray(body.added)) added.push(...body.added);
    };
    if (this.files.length) {
      const form = new FormData();
      for (const file of this.files) form.append("torrent", file, file.name);
      form.append("start", String(common.start));
      form.append("label", common.label);
      form.append("directory", common.directory);
      try {
        const reply = await api(path, { method: "POST", form });
        added.push(...(reply.added || []));
        if (Array.isArray(reply.errors)) errors.push(...reply.errors);
      } catch (error) {
        collect(error);
      }
    }
    if (uris.length) {
      try {
        const reply = await api(path, { method: "POST", json: { uris, ...common } });
        added.push(...(reply.added || []));
        if (Array.isArray(reply.errors)) errors.push(...reply.errors);
      } catch (error) {
        collect(error);
      }
    }
    this.ok.disabled = false;
    // Keep only what failed, so a second try does not add the rest twice.
    const failed = new Set(errors.map((e) => e.item));
    this.files = this.files.filter((f) => failed.has(f.name));
    this.renderFiles();
    this.uris.value = uris.filter((u) => failed.has(u)).join("\n");
    this.errors.replaceChildren(...errors.map((e) => el("li", {}, e.item ? `${e.item}: ${e.error}` : e.error)));
    if (added.length) this.onAdded(added);
    if (!errors.length) this.dialog.close();
  }
}

// --------------------------------------------------------------- remove

export class RemoveDialog {
  constructor({ onConfirm }) {
    const [dialog, form] = shell("remove-dialog", "Remove torrents");
    this.dialog = dialog;
    this.text = el("p", { id: "remove-text" });
    this.deleteData = el("input", { type: "checkbox", id: "remove-delete-data" });
    this.deleteRow = el("label", { className: "inline" }, this.deleteData, "Also delete the downloaded data");
    const [bar, cancel] = actions("Remove", "danger");
    form.append(this.text, this.deleteRow, bar);
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      dialog.close();
      onConfirm(this.hashes, this.allowDelete && this.deleteData.checked);
    });
  }

  open(hashes, names, allowDelete) {
    this.hashes = hashes;
    this.allowDelete = allowDelete;
    this.text.textContent = hashes.length === 1
      ? `Remove “${names[0]}” from rTorrent?`
      : `Remove ${hashes.length} torrents from rTorrent?`;
    // Offered only when the profile allows it; otherwise the checkbox is not in the DOM.
    if (allowDelete) this.text.after(this.deleteRow);
    else this.deleteRow.remove();
    this.deleteData.checked = false;
    this.dialog.showModal();
  }
}

// ---------------------------------------------------------------- label

export class LabelDialog {
  constructor({ onConfirm }) {
    const [dialog, form] = shell("label-dialog", "Set label");
    this.dialog = dialog;
    this.input = el("input", { type: "text", id: "label-input", list: "label-list", autocomplete: "off" });
    this.list = el("datalist", { id: "label-list" });
    const [bar, cancel] = actions("Set label");
    form.append(el("label", {}, "Label (empty removes it)", this.input, this.list), bar);
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      dialog.close();
      onConfirm(this.hashes, this.input.value.trim());
    });
  }

  open(hashes, current, labels) {
    this.hashes = hashes;
    this.input.value = current || "";
    labelOptions(this.list, labels || []);
    this.dialog.showModal();
    this.input.select();
  }
}
