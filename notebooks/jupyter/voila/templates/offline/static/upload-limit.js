// Uploads over a page's limit are refused in the browser, before their bytes are sent.
//
// ipywidgets' FileUpload has no size limit: its button opens a file input that is not in the
// document (no listener of ours can see its events) and sends every chosen file to the kernel.
// An upload button with the class `upload-max-bytes-<N>` (sot_utils/study/estimator_explorer.py)
// gets its input caught when the button opens it; from then on the widget reads no file from that
// input when one of the chosen files is over N bytes, and a message beside the button says why.
// The server caps what a client bypassing this script can send (notebooks/jupyter/voila.json).
(() => {
  "use strict";

  const LIMIT = /^upload-max-bytes-(\d+)$/;
  const nativeClick = HTMLInputElement.prototype.click;
  const nativeFiles = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "files");
  const megabytes = (bytes) => (bytes / 2 ** 20).toFixed(1).replace(/\.0$/, "");

  function limitOf(button) {
    for (const name of button.classList) {
      const match = LIMIT.exec(name);
      if (match) return Number(match[1]);
    }
    return null;
  }

  function tooBig(input, limit) {
    return Array.from(nativeFiles.get.call(input) || []).filter((file) => file.size > limit);
  }

  function say(button, text) {
    let note = button.nextElementSibling;
    if (!note || !note.classList.contains("upload-refused")) {
      note = document.createElement("span");
      note.className = "upload-refused";
      note.setAttribute("role", "alert");
      button.after(note);
    }
    note.textContent = text;
  }

  function guard(input, button, limit) {
    if (input.dataset.maxBytes) return;
    input.dataset.maxBytes = String(limit);
    // the widget's change handler reads `input.files`: with a file too big, it reads none, and
    // sends an empty value (no bytes) to the kernel
    Object.defineProperty(input, "files", {
      configurable: true,
      get() {
        return tooBig(this, limit).length ? [] : nativeFiles.get.call(this);
      },
      set(files) {
        nativeFiles.set.call(this, files);
      },
    });
    input.addEventListener("change", () => {
      const [file] = tooBig(input, limit);
      say(
        button,
        file
          ? `${file.name} is ${megabytes(file.size)} MB: the page takes files up to ${megabytes(limit)} MB ` +
              "(nothing was sent)"
          : "",
      );
    });
  }

  // capture phase: runs before the widget's own click handler, which opens its input with input.click()
  document.addEventListener(
    "click",
    (event) => {
      const button = event.target instanceof Element ? event.target.closest(".widget-upload") : null;
      const limit = button && limitOf(button);
      if (!limit) return;
      HTMLInputElement.prototype.click = function () {
        HTMLInputElement.prototype.click = nativeClick;
        if (this.type === "file") guard(this, button, limit);
        return nativeClick.call(this);
      };
      setTimeout(() => {
        HTMLInputElement.prototype.click = nativeClick; // the widget did not open its input (disabled)
      });
    },
    true,
  );
})();
