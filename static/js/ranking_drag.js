// Ranking by dragging: each response card has a handle; while one is held, every card shows
// the places a drop on it gives the dragged response, and letting go on one calls `onDrop`.
// Pointer events, so a mouse, a pen and a finger all work; keyboards keep the number keys.
// The cards are annotate.js's: `.ann-response` elements carrying their display `data-index`.

const EDGE_PX = 40;

// A response's drag handle: a named button, like the page's other controls.
export function dragHandle(index) {
  const handle = document.createElement("button");
  handle.type = "button";
  handle.className = "ann-drag";
  handle.dataset.drag = String(index);
  handle.setAttribute("aria-label", `Drag response ${index + 1} to rank it (or press ${index + 1})`);
  handle.title = "Drag onto a response to rank this one above, tied with or below it";
  handle.textContent = "⠿";
  return handle;
}

// The drops a card takes while response `index` is dragged: a placed response takes it above,
// tied with (where ties are allowed) or below itself; an unplaced one, the dragged one's own
// card included, ranks it last. A placed response's own card takes nothing.
function drops(index, target, placed, allowTie) {
  if (!placed) return [["last", "Rank last"]];
  if (target === index) return [];
  return [
    ["above", "Rank above this"],
    ...(allowTie ? [["tie", "Tie with this"]] : []),
    ["below", "Rank below this"],
  ];
}

// Makes the handles in `list` drag. `placeOf(index)` is a response's place (-1: not placed);
// `onDrop(index, where, target)` moves response `index` "above", "tie" or "below" response
// `target`, or "last".
export function enableDrag(list, { allowTie, placeOf, onDrop }) {
  let drag = null; // {index, pointer}
  const cards = () => list.querySelectorAll(".ann-response");

  function dropAt(event) {
    const zone = document.elementFromPoint(event.clientX, event.clientY)?.closest("[data-drop]");
    return zone && list.contains(zone) ? zone : null;
  }

  function hover(zone) {
    for (const other of list.querySelectorAll(".ann-drop.over")) {
      if (other !== zone) other.classList.remove("over");
    }
    zone?.classList.add("over");
  }

  function stop() {
    drag = null;
    list.classList.remove("dragging");
    for (const card of cards()) card.classList.remove("dragged");
    for (const zones of list.querySelectorAll(".ann-drops")) zones.remove();
  }

  function start(handle, event) {
    drag = { index: Number(handle.dataset.drag), pointer: event.pointerId };
    handle.setPointerCapture(event.pointerId);
    list.classList.add("dragging");
    for (const card of cards()) {
      const target = Number(card.dataset.index);
      card.classList.toggle("dragged", target === drag.index);
      const zones = document.createElement("div");
      zones.className = "ann-drops";
      zones.setAttribute("aria-hidden", "true");
      for (const [where, text] of drops(drag.index, target, placeOf(target) >= 0, allowTie)) {
        const zone = document.createElement("div");
        zone.className = "ann-drop";
        zone.dataset.drop = where;
        zone.textContent = text;
        zones.append(zone);
      }
      if (zones.childElementCount) card.append(zones);
    }
  }

  // A drag starts on a handle in the list; the rest listen on the whole document, so a drag
  // still ends when the next item has replaced the held handle.
  list.addEventListener("pointerdown", (event) => {
    const handle = event.target.closest(".ann-drag");
    if (!handle || drag || event.button !== 0) return;
    event.preventDefault(); // no text selection, no focus move, no scrolling
    start(handle, event);
  });
  document.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.pointer) return;
    hover(dropAt(event));
    // Near the window's top or bottom edge, scroll towards cards out of view.
    if (event.clientY < EDGE_PX) window.scrollBy(0, -EDGE_PX / 2);
    else if (event.clientY > window.innerHeight - EDGE_PX) window.scrollBy(0, EDGE_PX / 2);
  });
  document.addEventListener("pointerup", (event) => {
    if (!drag || event.pointerId !== drag.pointer) return;
    const zone = dropAt(event);
    const { index } = drag;
    const target = zone ? Number(zone.closest(".ann-response").dataset.index) : -1;
    stop();
    if (zone) onDrop(index, zone.dataset.drop, target);
  });
  document.addEventListener("pointercancel", () => drag && stop());
  document.addEventListener(
    "keydown",
    (event) => {
      if (!drag || event.key !== "Escape") return;
      event.preventDefault();
      event.stopPropagation();
      stop();
    },
    true,
  );
}
