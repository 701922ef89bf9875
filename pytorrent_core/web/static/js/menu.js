// Right-click menu for the table: the toolbar's actions, keyboard-operable.

export class ContextMenu {
  constructor(onChoose) {
    this.onChoose = onChoose;
    this.menu = document.createElement("div");
    this.menu.className = "context-menu";
    this.menu.id = "context-menu";
    this.menu.setAttribute("role", "menu");
    this.menu.hidden = true;
    document.body.append(this.menu);
    this.returnFocus = null;
    this.menu.addEventListener("click", (event) => {
      const item = event.target.closest("[role=menuitem]");
      if (!item) return;
      this.close();
      this.onChoose(item.dataset.action);
    });
    this.menu.addEventListener("keydown", (event) => this._onKey(event));
    document.addEventListener("pointerdown", (event) => {
      if (!this.menu.hidden && !this.menu.contains(event.target)) this.close(false);
    });
    window.addEventListener("blur", () => this.close(false));
    window.addEventListener("resize", () => this.close(false));
  }

  open(items, x, y, returnFocus) {
    this.returnFocus = returnFocus;
    this.menu.replaceChildren(...items.map(({ action, title }) => {
      const item = document.createElement("button");
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.tabIndex = -1;
      item.dataset.action = action;
      item.textContent = title;
      return item;
    }));
    this.menu.hidden = false;
    const box = this.menu.getBoundingClientRect();
    this.menu.style.left = `${Math.max(0, Math.min(x, window.innerWidth - box.width - 4))}px`;
    this.menu.style.top = `${Math.max(0, Math.min(y, window.innerHeight - box.height - 4))}px`;
    this._items()[0]?.focus();
  }

  close(restore = true) {
    if (this.menu.hidden) return;
    this.menu.hidden = true;
    if (restore && this.returnFocus) this.returnFocus.focus({ preventScroll: true });
  }

  _items() {
    return [...this.menu.querySelectorAll("[role=menuitem]")];
  }

  _onKey(event) {
    const items = this._items();
    const at = items.indexOf(document.activeElement);
    const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
    if (next !== undefined) {
      event.preventDefault();
      items[(next + items.length) % items.length].focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      event.preventDefault();
      this.close();
    }
  }
}
