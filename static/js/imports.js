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
    const badge = el.querySelector(".badge");
    badge.textContent = job.status;
    badge.className = `badge status-${job.status}`;
    const bar = el.querySelector("[data-import-progress]");
    if (bar) bar.value = job.progress;
    if (!["queued", "running"].includes(job.status)) {
      window.location.reload();
      return;
    }
  }
  setTimeout(poll, 1000);
}

if (running.length) setTimeout(poll, 500);

// The reward-model card: served version, live run, and the embedding-ahead progress.
const modelCard = document.getElementById("model-status");

async function refreshModelCard() {
  const response = await fetch(`/api/projects/${modelCard.dataset.slug}/models`, {
    headers: { Accept: "application/json" },
  });
  if (!response.ok) return;
  const data = await response.json();
  const parts = [];
  if (data.active) {
    const accuracy = data.active.metrics.accuracy;
    parts.push(`v${data.active.version} served` + (accuracy != null ? `, validation accuracy ${(accuracy * 100).toFixed(1)}%` : ""));
  } else {
    parts.push("No model served yet");
  }
  const live = data.runs.find((run) => ["queued", "running"].includes(run.status));
  if (live) parts.push(`run ${live.id} ${live.status} (${Math.round(live.progress * 100)}%)`);
  const bar = modelCard.querySelector("[data-embedding-progress]");
  if (data.embedding) {
    parts.push(`embeddings ${data.embedding.status}`);
    bar.hidden = data.embedding.status === "succeeded";
    bar.value = data.embedding.progress;
  }
  modelCard.querySelector("[data-model-summary]").textContent = parts.join(" · ");
  if (live || (data.embedding && ["queued", "running"].includes(data.embedding.status))) {
    setTimeout(refreshModelCard, 1500);
  }
}

if (modelCard) refreshModelCard();
