// Follows the live training run on the models page and reloads when it ends.
const section = document.getElementById("run");
const runId = section?.dataset.runId;

async function poll() {
  const response = await fetch(`/api/training-runs/${runId}`, { headers: { Accept: "application/json" } });
  if (response.ok) {
    const run = await response.json();
    section.querySelector("[data-run-progress]").value = run.progress;
    section.querySelector("[data-run-status]").textContent = run.status;
    section.querySelector("[data-run-message]").textContent = run.message;
    if (!["queued", "running"].includes(run.status)) {
      window.location.reload();
      return;
    }
  }
  setTimeout(poll, 1000);
}

if (runId) setTimeout(poll, 500);
