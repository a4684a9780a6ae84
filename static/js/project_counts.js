// The project page's counts come from a worker: while it counts, ask the API until new ones are in.
const section = document.getElementById("project-counts");
const TRIES = 60;

async function poll(left) {
  const response = await fetch(`/api/projects/${section.dataset.slug}/`, {
    headers: { Accept: "application/json" },
  });
  if (response.ok) {
    const body = await response.json();
    const asOf = body.counts_as_of ? Date.parse(body.counts_as_of) : null;
    const before = section.dataset.asOf ? Date.parse(section.dataset.asOf) : null;
    if (body.counts_status === "ready" && asOf !== null && (before === null || asOf > before)) {
      for (const el of document.querySelectorAll("[data-count]")) {
        const value = body.counts[el.dataset.count];
        if (value !== undefined && value !== null) el.textContent = String(value);
      }
      section.dataset.countsStatus = "ready";
      document.querySelector("[data-counts-as-of]").textContent = "Counted just now";
      return;
    }
  }
  if (left > 0) setTimeout(() => poll(left - 1), 2000);
}

if (section && (section.dataset.countsStatus === "computing" || "updating" in section.dataset)) {
  setTimeout(() => poll(TRIES), 1000);
}
