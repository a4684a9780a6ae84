// Workspace pages: confirm destructive actions, copy invitation links, preview guidelines,
// suggest a slug from the project name.

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const input = button.closest("tr").querySelector("[data-invitation-url]");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Press Ctrl+C";
    }
  });
}

// The preview is rendered by the server's own markdown sanitizer, so it shows exactly what
// annotators will see and never runs markup from the text.
const source = document.querySelector("[data-markdown-source]");
const preview = document.querySelector("[data-markdown-preview]");
const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
let timer = null;

async function renderPreview() {
  const body = new URLSearchParams({ text: source.value });
  const response = await fetch(preview.dataset.url, {
    method: "POST",
    headers: { "X-CSRFToken": csrf.value },
    body,
  });
  if (response.ok) preview.innerHTML = (await response.json()).html;
}

if (source && preview && csrf) {
  source.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(renderPreview, 250);
  });
  renderPreview();
}

const name = document.getElementById("id_name");
const slug = document.getElementById("id_slug");
if (name && slug) {
  let edited = slug.value !== "";
  slug.addEventListener("input", () => {
    edited = slug.value !== "";
  });
  name.addEventListener("input", () => {
    if (edited) return;
    slug.value = name.value
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9_\s-]/g, "")
      .trim()
      .replace(/[\s-]+/g, "-")
      .slice(0, 100);
  });
}
