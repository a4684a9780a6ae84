// Polls running imports on the project page and reloads it when one finishes.
const running = [...document.querySelectorAll("[data-import-id]")].filter((el) =>
  ["queued", "running"].includes(el.dataset.status),
);

async function poll() {
  for (const el of running) {
    const response = await fetch(`/api/imports/${el.dataset.importId}`, {
      headers: { Accept: "application/json" },
    });
    if (!response.ok) continue;
    const job = await response.json();
    el.querySelector("progress").value = job.progress;
    if (!["queued", "running"].includes(job.status)) {
      window.location.reload();
      return;
    }
  }
  setTimeout(poll, 1000);
}

if (running.length) setTimeout(poll, 500);
