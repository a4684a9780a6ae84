// The annotation page: one pair on screen, the next one prefetched, keyboard first.
//
// Judgements and skips go to an outbox in localStorage before anything is sent, and leave it
// only when the server has answered for them. A network error or a server restart keeps them
// there; they are retried with backoff, on `online` events and on page load. Each judgement
// carries a client_id made once, so a retry whose first attempt did land is stored only once.

import { diffNodes } from "./diff.js";
import {
  addTo,
  editNeedReason,
  editNeedText,
  editRequired,
  moveTo,
  orderText,
  Ratings,
  ratingIndex,
  removeLast,
  SCALE_KEYS,
} from "./ranking.js";
import { dragHandle, enableDrag } from "./ranking_drag.js";

const root = document.getElementById("annotator");
const options = JSON.parse(document.getElementById("annotate-options").textContent);
const OUTBOX_KEY = `prefloop:outbox:${options.slug}`;
const NEXT_URL = `/api/projects/${encodeURIComponent(options.slug)}/next`;
const FLASH_MS = 160;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30000;

const $ = (role) => root.querySelector(`[data-role="${role}"]`);
const rationaleBox = $("rationale");
const strengthBox = $("strength");
const guidelines = $("guidelines");

// A ranking project shows an item's responses in the lease's order and takes their order.
const RANKING = options.comparison === "ranking";
const SCALE = options.rating_scale || [];

const ALLOWED = new Set(["left", "right"]);
if (options.allow_tie) ALLOWED.add("tie");
if (options.allow_both_bad) ALLOWED.add("both_bad");

const KEYMAP = {
  1: "left",
  arrowleft: "left",
  2: "right",
  arrowright: "right",
  3: "tie",
  t: "tie",
  4: "both_bad",
  b: "both_bad",
};

// --- the outbox ------------------------------------------------------------------------------

const outbox = {
  items() {
    try {
      return JSON.parse(localStorage.getItem(OUTBOX_KEY)) || [];
    } catch {
      return [];
    }
  },
  add(item) {
    localStorage.setItem(OUTBOX_KEY, JSON.stringify([...this.items(), item]));
  },
  remove(id) {
    localStorage.setItem(OUTBOX_KEY, JSON.stringify(this.items().filter((i) => i.id !== id)));
  },
  assignments() {
    return new Set(this.items().map((i) => i.assignment));
  },
};

function uuid4() {
  // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// --- talking to the server -------------------------------------------------------------------

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function post(url, body) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": csrfToken(),
    },
    body: JSON.stringify(body),
  });
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body.detail) return String(body.detail);
    return Object.values(body).flat().join(" ");
  } catch {
    return `the server answered ${response.status}`;
  }
}

function itemUrl(item) {
  const kind = item.kind === "skip" ? "skip" : "judgement";
  return `/api/assignments/${item.assignment}/${kind}`;
}

// The last judgement waiting, sent while the queue has room, also asks for the next pair: the
// answer carries what fillQueue would otherwise fetch, so judging costs one request. With more
// items waiting it does not, since their open leases would be handed back as "next".
function asksForNext(item) {
  return item.kind === "judgement" && outbox.items().length === 1 && unjudged().length < 2;
}

// The pairs held and not yet judged: the one on screen may be judged and only flashing.
function unjudged() {
  const sent = outbox.assignments();
  return queue.filter((pair) => !sent.has(pair.assignment));
}

function send(item) {
  if (!asksForNext(item)) return post(itemUrl(item), item.body);
  const [shown] = unjudged();
  const body = shown ? { ...item.body, after: shown.assignment } : item.body;
  return post(`${itemUrl(item)}?next=1`, body);
}

// Sends the outbox in order, including items added meanwhile. True when it is empty afterwards.
async function flushOutbox() {
  let item;
  while ((item = outbox.items()[0])) {
    const askedForNext = asksForNext(item);
    let response;
    try {
      response = await send(item);
    } catch {
      return false; // offline or the server is down: keep everything, retry later
    }
    if (response.ok) {
      outbox.remove(item.id);
      const body = await response.json().catch(() => ({}));
      if (body.progress) setProgress(body.progress);
      if (askedForNext && "next" in body) take(body.next);
      if (body.paused) notify(`Could not load a pair: ${body.paused}`);
    } else if ([400, 404, 409].includes(response.status)) {
      // Retrying cannot help: the pair was judged differently, taken over, or is gone.
      outbox.remove(item.id);
      const what = item.kind === "skip" ? "A skip" : "A judgement";
      notify(`${what} was not saved: ${await errorText(response)}`);
    } else {
      if (response.status === 403 || response.status === 401) {
        notify("Your session has ended. Log in again in another tab; nothing is lost.");
      }
      return false;
    }
    renderSync();
  }
  renderSync();
  return true;
}

// --- the queue of pairs ----------------------------------------------------------------------

const queue = []; // queue[0] is on screen, queue[1] is the prefetched next pair
let exhausted = false; // the server said there is nothing more after what we hold
let reachable = true;
let progress = null;

// Asks for pairs until one is on screen and one is waiting. The server still counts the lease
// of an unsynced judgement as open and would hand it back, so every assignment we hold or still
// have to send is excluded; `after` excludes one, so with two we wait for the outbox instead.
async function fillQueue() {
  while (queue.length < 2 && !(exhausted && queue.length)) {
    const exclude = outbox.assignments();
    if (queue[0]) exclude.add(queue[0].assignment);
    if (exclude.size > 1) break;
    const body = exclude.size ? { after: [...exclude][0] } : {};
    let response;
    try {
      response = await post(NEXT_URL, body);
    } catch {
      reachable = false;
      return false;
    }
    reachable = response.status < 500;
    if (response.status === 204) {
      exhausted = true;
      break;
    }
    if (!response.ok) {
      if (response.status < 500) notify(`Could not load a pair: ${await errorText(response)}`);
      return false;
    }
    const pair = await response.json();
    if (exclude.has(pair.assignment) || !take(pair)) break;
  }
  return true;
}

// Queues a pair the server leased (null: nothing left); false when it is one we already hold.
function take(pair) {
  if (pair === null) {
    exhausted = true;
    return false;
  }
  if (queue.some((p) => p.assignment === pair.assignment)) return false;
  exhausted = false;
  queue.push(pair);
  if (pair.progress) setProgress(pair.progress);
  if (queue.length === 1) show(pair);
  render();
  return true;
}

let syncing = null;
let syncAgain = false;
let retryDelay = RETRY_FIRST_MS;
let retryTimer = null;

// Flush the outbox, then top up the queue; on failure try again later, backing off. A call
// made while a round is running (a judgement made meanwhile) runs one more round after it.
function sync() {
  if (syncing) {
    syncAgain = true;
    return syncing;
  }
  syncing = (async () => {
    do {
      syncAgain = false;
      clearTimeout(retryTimer);
      const flushed = await flushOutbox();
      const filled = await fillQueue();
      if (flushed && filled) {
        retryDelay = RETRY_FIRST_MS;
      } else {
        retryTimer = setTimeout(sync, retryDelay);
        retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
      }
      render();
    } while (syncAgain);
  })().finally(() => {
    syncing = null;
  });
  return syncing;
}

// --- showing a pair --------------------------------------------------------------------------

let shownAt = 0;
let staged = null; // a choice waiting for its required rationale
let advancing = false;

const ROLE_NAMES = { user: "User", assistant: "Assistant", system: "System" };

function fill(element, part) {
  // `html` is rendered and sanitized by the server; `text` is only ever used as text.
  if (part.html !== undefined) element.innerHTML = part.html;
  else element.textContent = part.text ?? part.content ?? "";
}

function show(pair) {
  const prompt = $("prompt");
  prompt.replaceChildren(
    ...pair.prompt.map((message) => {
      const turn = document.createElement("div");
      turn.className = `ann-turn ann-turn-${message.role}`;
      const who = document.createElement("div");
      who.className = "ann-turn-role";
      who.textContent = ROLE_NAMES[message.role] ?? message.role;
      const body = document.createElement("div");
      body.className = "ann-turn-body prose";
      fill(body, message);
      turn.append(who, body);
      return turn;
    }),
  );
  if (RANKING) showResponses(pair);
  else {
    fill($("left"), pair.left);
    fill($("right"), pair.right);
  }
  root.dataset.assignment = String(pair.assignment);
  root.dataset.pair = String(pair.pair);
  staged = null;
  if (RICH) resetRich();
  for (const button of root.querySelectorAll(".ann-choice, .ann-skip")) {
    button.classList.remove("chosen", "staged");
  }
  if (rationaleBox) {
    rationaleBox.value = "";
    // A new pair starts at the choice keys, even when the last one was sent from the box.
    if (document.activeElement === rationaleBox) rationaleBox.blur();
  }
  setStrength(2);
  shownAt = performance.now();
  tick();
  window.scrollTo({ top: 0 });
}

// --- ranking an item ---------------------------------------------------------------------------

let placed = []; // groups of display indexes, best first; one group is a tie
let tieNext = false; // "=" pressed: the next response joins the last group
// With criteria, each is ranked in its own row before the overall ranking (the "" key);
// `placed` is the ranking of the highlighted row.
const RANK_ROWS = RANKING && (options.criteria || []).length > 0;
let rankingOf = { "": placed };
// Each response's rating (a ranking project with a scale): Shift and the value's key rate the
// outlined response and outline the next; ←/→ outline another.
const rated = new Ratings(SCALE);

function showResponses(pair) {
  placed = [];
  tieNext = false;
  rankingOf = { "": placed };
  for (const criterion of options.criteria || []) rankingOf[criterion.name] = [];
  rated.reset(pair.responses.length);
  cursor = 0;
  if (RANK_ROWS) selectRanking();
  closeEdit();
  $("ranked").replaceChildren(
    ...pair.responses.map((response, index) => {
      const card = document.createElement("section");
      card.className = "ann-response";
      card.dataset.index = String(index);
      const label = document.createElement("h2");
      label.className = "ann-response-label";
      label.textContent = `Response ${index + 1} `;
      const key = document.createElement("kbd");
      key.textContent = String(index + 1);
      const place = document.createElement("span");
      place.className = "ann-place";
      place.dataset.role = "place";
      label.append(key, place);
      const body = document.createElement("div");
      body.className = "ann-response-body prose";
      fill(body, response);
      card.append(dragHandle(index), label, body);
      if (SCALE.length) card.append(ratingControl());
      return card;
    }),
  );
  renderRanking();
}

// A response's rating buttons, each with its Shift+key; outlined while the keys rate it.
function ratingControl() {
  const row = document.createElement("div");
  row.className = "ann-row ann-rating";
  row.dataset.role = "rate";
  const name = document.createElement("p");
  name.className = "ann-row-name";
  name.textContent = "Rating";
  const picks = document.createElement("div");
  picks.className = "ann-picks";
  picks.append(
    ...SCALE.map((value, i) => button(String(value), `⇧${SCALE_KEYS[i]}`, { rate: i })),
  );
  row.append(name, picks);
  return row;
}

function rate(index, value) {
  if (!queue[0] || advancing) return;
  rated.rate(index, value);
  renderRanking();
}

function place(index) {
  const pair = queue[0];
  if (!pair || advancing || index >= pair.responses.length) return;
  if (!addTo(placed, index, tieNext)) return;
  tieNext = false;
  renderRanking();
}

// A drop of a dragged response (ranking_drag.js): the same ranking the keys fill.
function dropAt(index, where, target) {
  if (!queue[0] || advancing || editing || !moveTo(placed, index, where, target)) return;
  tieNext = false;
  renderRanking();
}

function undoPlace() {
  if (tieNext) tieNext = false;
  else removeLast(placed);
  renderRanking();
}

function tieWithLast() {
  if (!options.allow_tie || !placed.length) return;
  tieNext = true;
  renderRanking();
}

// The highlighted row's ranking becomes the one the number keys fill.
function selectRanking() {
  placed = rankingOf[rows()[cursor]?.dataset.name ?? ""];
  tieNext = false;
  renderRanking();
}

function renderRanking() {
  const pair = queue[0];
  if (RANK_ROWS) renderRows();
  for (const card of $("ranked").querySelectorAll(".ann-response")) {
    const index = Number(card.dataset.index);
    const at = placed.findIndex((group) => group.includes(index));
    card.classList.toggle("placed", at >= 0);
    card.querySelector('[data-role="place"]').textContent = at >= 0 ? `#${at + 1}` : "";
    const rating = card.querySelector('[data-role="rate"]');
    if (rating) paintRating(rating, index);
  }
  const left = pair ? pair.responses.length - placed.flat().length : 0;
  const order = orderText(placed);
  $("ranking").textContent =
    (RANK_ROWS ? `${rows()[cursor]?.dataset.name ?? "Overall"}: ` : "") +
    (order ? `Your ranking: ${order}` : "Press the numbers of the responses, best first.") +
    (tieNext ? " (next one ties)" : "") +
    (left ? ` · ${left} to place` : nextStep());
}

function paintRating(row, index) {
  row.classList.toggle("active", index === rated.at && !editing);
  for (const pick of row.querySelectorAll(".ann-pick")) {
    const on = rated.values[index] === SCALE[Number(pick.dataset.rate)];
    pick.classList.toggle("picked", on);
    pick.setAttribute("aria-pressed", String(on));
  }
}

// What Enter does once every response of the overall ranking is placed.
function nextStep() {
  const best = placed.length && placed[0].length === 1 ? placed[0][0] : -1;
  if (!editBox || best < 0 || placed !== rankingOf[""]) return " · Enter submits";
  const rating = rated.values[best];
  return editRequired(options, rating)
    ? ` · Enter opens response ${best + 1} to improve (${editNeedText(options, rating)})`
    : ` · Enter opens response ${best + 1} to improve (optional)`;
}

// The criteria's rankings in response ids, or null (after a notice) when one is unfinished.
function criteriaRankings(pair) {
  const out = {};
  for (const [i, row] of rows().entries()) {
    const name = row.dataset.name;
    if (!name) continue;
    const groups = rankingOf[name];
    const count = groups.flat().length;
    const required = options.criteria.find((c) => c.name === name).required;
    if (count === pair.responses.length) {
      out[name] = groups.map((group) => group.map((index) => pair.responses[index].id));
    } else if (count || required) {
      cursor = i;
      selectRanking();
      notify(`Rank every response for "${name}" first${required ? ": it is required" : ""}.`);
      return null;
    }
  }
  return out;
}

function submitRanking() {
  const pair = queue[0];
  if (!pair || advancing) return;
  const criteria = RANK_ROWS ? criteriaRankings(pair) : {};
  if (!criteria) return;
  if (RANK_ROWS) {
    placed = rankingOf[""];
    cursor = rows().length - 1;
    renderRanking();
  }
  if (placed.flat().length < pair.responses.length) {
    notify("Place every response first: press their numbers, best first.");
    return;
  }
  const rationale = rationaleBox ? rationaleBox.value.trim() : "";
  if (options.ask_rationale === "required" && !rationale) {
    rationaleBox.focus();
    notify("Write a short reason, then press Enter to submit.");
    return;
  }
  let extra = Object.keys(criteria).length ? { criteria } : {};
  if (Object.keys(rated.values).length) extra.ratings = rated.body(pair.responses);
  if (editBox && placed[0].length === 1) {
    const best = placed[0][0];
    extra = editOf(`rank:${best}`, pair.responses[best].text ?? "", extra, rated.values[best]);
    if (!extra) return;
  }
  const body = {
    ranking: placed.map((group) => group.map((i) => pair.responses[i].id)),
    ...extra,
    duration_ms: Math.round(performance.now() - shownAt),
    client_id: uuid4(),
  };
  if (rationale) body.rationale = rationale;
  outbox.add({ kind: "judgement", id: body.client_id, assignment: pair.assignment, body });
  if (progress) setProgress({ mine: progress.mine + 1, remaining: progress.remaining - 1 });
  advance(root.querySelector('[data-action="submit"]'));
}

function onRankingKey(event, key) {
  const onCriterion = RANK_ROWS && rows()[cursor]?.dataset.name;
  if (/^[1-9]$/.test(key)) place(Number(key) - 1);
  else if (key === "=") tieWithLast();
  else if (key === "backspace") undoPlace();
  else if (SCALE.length && (key === "arrowleft" || key === "arrowright")) {
    rated.move(key === "arrowleft" ? -1 : 1);
    renderRanking();
  } else if (RANK_ROWS && (key === "arrowup" || key === "arrowdown")) {
    moveCursor(key === "arrowup" ? -1 : 1);
  } else if (key === "enter" && onCriterion) moveCursor(1);
  else if (key === "enter") submitRanking();
  else return;
  event.preventDefault();
}


// --- criteria, ratings and an edit (a pairwise project that asks for them) --------------------
//
// One row per criterion, then a rating row per side, then the overall choice. The highlighted
// row takes the keys (a criterion's are the overall choice's own), a key moves to the next
// row and ↑/↓ move between rows. The overall choice comes last; where the project takes edits
// and one side won, it opens the better response for editing, with a live diff.

const RICH = Boolean(options.rich);
const VOTES = [
  ["left", "Left", "1"],
  ["tie", "Tie", "3"],
  ["both_bad", "Both bad", "4"],
  ["right", "Right", "2"],
].filter(([vote]) => ALLOWED.has(vote));
const editBox = $("edit-text");

let votes = {}; // {criterion name: left|right|tie|both_bad}
let ratings = {}; // {left|right: a value of the scale}
let cursor = 0; // index into rows(): the row the keys go to
let editing = null; // {choice, original} while the better response is being edited

function button(text, key, data) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "ann-pick";
  Object.assign(b.dataset, data);
  const k = document.createElement("kbd");
  k.textContent = key;
  b.append(`${text} `, k);
  return b;
}

function buildRows() {
  const rows = (options.criteria || []).map((criterion) => {
    const row = document.createElement("div");
    row.className = "ann-row";
    row.dataset.row = "criterion";
    row.dataset.name = criterion.name;
    const name = document.createElement("p");
    name.className = "ann-row-name";
    name.textContent = criterion.name;
    if (criterion.required) {
      const tag = document.createElement("span");
      tag.className = "ann-required";
      tag.textContent = " required";
      name.append(tag);
    }
    const guidance = document.createElement("p");
    guidance.className = "ann-row-guidance";
    guidance.textContent = criterion.guidance;
    const picks = document.createElement("div");
    picks.className = "ann-picks";
    if (RANKING) {
      const order = document.createElement("span");
      order.dataset.role = "order";
      picks.append(order);
    } else picks.append(...VOTES.map(([vote, text, key]) => button(text, key, { vote })));
    row.append(name, guidance, picks);
    return row;
  });
  if (SCALE.length && !RANKING) {
    for (const side of ["left", "right"]) {
      const row = document.createElement("div");
      row.className = "ann-row";
      row.dataset.row = "rating";
      row.dataset.side = side;
      const name = document.createElement("p");
      name.className = "ann-row-name";
      name.textContent = `Rate ${side}`;
      const picks = document.createElement("div");
      picks.className = "ann-picks";
      picks.append(...SCALE.map((value, i) => button(String(value), SCALE_KEYS[i], { rating: i })));
      row.append(name, picks);
      rows.push(row);
    }
  }
  $("rows").replaceChildren(...rows);
}

function rows() {
  return [...root.querySelectorAll("[data-row]")];
}

function resetRich() {
  votes = {};
  ratings = {};
  cursor = 0;
  closeEdit();
  renderRows();
}

function renderRows() {
  rows().forEach((row, i) => {
    row.classList.toggle("active", i === cursor && !editing);
    const order = row.querySelector('[data-role="order"]');
    if (order) order.textContent = orderText(rankingOf[row.dataset.name]) || "not ranked yet";
    for (const pick of row.querySelectorAll(".ann-pick")) {
      const on =
        row.dataset.row === "criterion"
          ? votes[row.dataset.name] === pick.dataset.vote
          : ratings[row.dataset.side] === SCALE[Number(pick.dataset.rating)];
      pick.classList.toggle("picked", on);
      pick.setAttribute("aria-pressed", String(on));
    }
  });
}

function moveCursor(by) {
  cursor = Math.max(0, Math.min(rows().length - 1, cursor + by));
  if (RANKING) selectRanking();
  renderRows();
  rows()[cursor]?.scrollIntoView({ block: "nearest" });
}

function pick(row, value) {
  if (row.dataset.row === "criterion") votes[row.dataset.name] = value;
  else ratings[row.dataset.side] = value;
  cursor = rows().indexOf(row) + 1;
  renderRows();
}

// A key for the highlighted row; true when it took it. The choice keys never reach the overall
// choice from another row, so a key meant for a criterion cannot submit the judgement.
function onRowKey(key) {
  const row = rows()[cursor];
  if (!row || row.dataset.row === "overall") return false;
  const index = SCALE_KEYS.indexOf(key);
  if (row.dataset.row === "rating" && index >= 0 && index < SCALE.length) pick(row, SCALE[index]);
  else if (row.dataset.row === "criterion" && ALLOWED.has(KEYMAP[key])) pick(row, KEYMAP[key]);
  return Boolean(KEYMAP[key]) || index >= 0;
}

function onRowClick(target) {
  const pickButton = target.closest(".ann-pick");
  if (!pickButton) return false;
  const row = pickButton.closest("[data-row]");
  if (pickButton.dataset.vote) pick(row, pickButton.dataset.vote);
  else pick(row, SCALE[Number(pickButton.dataset.rating)]);
  return true;
}

// The first required criterion without a vote: the row to go back to.
function missingRow() {
  const missing = (options.criteria || []).find((c) => c.required && !votes[c.name]);
  return missing ? rows().findIndex((row) => row.dataset.name === missing.name) : -1;
}

// `choice` is the side chosen, or on a ranking project "rank:" and the best one's display index.
function openEdit(choice, original, rating) {
  editing = { choice, original };
  editBox.value = original;
  $("edit").hidden = false;
  const need = $("edit-need");
  need.textContent = editNeedText(options, rating);
  need.className = editRequired(options, rating) ? "ann-required" : "hint";
  for (const b of root.querySelectorAll(".ann-choice")) {
    b.classList.toggle("staged", b.dataset.choice === choice);
  }
  renderDiff();
  if (RANKING) renderRanking();
  else renderRows();
  editBox.focus();
}

function closeEdit() {
  editing = null;
  if (!editBox) return;
  $("edit").hidden = true;
  editBox.value = "";
  $("edit-diff").replaceChildren();
  if (document.activeElement === editBox) editBox.blur();
  for (const b of root.querySelectorAll(".ann-choice")) b.classList.remove("staged");
  if (RANKING) renderRanking();
  else renderRows();
}

function renderDiff() {
  const out = $("edit-diff");
  if (!editing) return;
  if (editBox.value === editing.original) out.textContent = "No change yet.";
  else out.replaceChildren(...diffNodes(editing.original, editBox.value));
}

function onEditKey(event) {
  if (event.key === "Escape") {
    event.preventDefault();
    closeEdit();
    return;
  }
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
    event.preventDefault();
    if (RANKING) submitRanking();
    else choose(editing.choice);
  }
}

// What a rich project adds to the judgement body, or null (after a notice) when not ready.
function richBody(choice) {
  const missing = missingRow();
  if (missing >= 0) {
    cursor = missing;
    renderRows();
    notify(`Give "${rows()[missing].dataset.name}" a choice first: it is required.`);
    return null;
  }
  const extra = {};
  if (Object.keys(votes).length) extra.criteria = { ...votes };
  if (Object.keys(ratings).length) extra.ratings = { ...ratings };
  const edits = options.edits || "off";
  if (edits === "off" || (choice !== "left" && choice !== "right")) return extra;
  return editOf(choice, queue[0][choice].text ?? "", extra, ratings[choice]);
}

// `extra` with the edit of the better response; null while the edit is still to be made.
// `rating` is the better response's rating (undefined: not rated), for `edit_below`.
function editOf(choice, original, extra, rating) {
  if (!editing || editing.choice !== choice) {
    openEdit(choice, original, rating);
    return null;
  }
  if (editBox.value.trim() && editBox.value !== editing.original) extra.edit = editBox.value;
  else if (editRequired(options, rating)) {
    const reason = editNeedReason(options, rating);
    const why = reason ? ` (${reason})` : "";
    notify(`Improve the better response first: this project asks for an edit${why}.`);
    editBox.focus();
    return null;
  }
  return extra;
}

function setStrength(value) {
  if (!strengthBox) return;
  strengthBox.querySelector(`input[value="${value}"]`).checked = true;
}

function strength() {
  return Number(strengthBox.querySelector("input:checked")?.value ?? 2);
}

function choose(choice) {
  const pair = queue[0];
  if (!pair || advancing || !ALLOWED.has(choice)) return;
  const rationale = rationaleBox ? rationaleBox.value.trim() : "";
  if (options.ask_rationale === "required" && !rationale) {
    staged = choice;
    for (const button of root.querySelectorAll(".ann-choice")) {
      button.classList.toggle("staged", button.dataset.choice === choice);
    }
    rationaleBox.focus();
    notify("Write a short reason, then press Enter to submit.");
    return;
  }
  const extra = RICH ? richBody(choice) : {};
  if (!extra) return;
  const body = {
    choice,
    ...extra,
    duration_ms: Math.round(performance.now() - shownAt),
    client_id: uuid4(),
  };
  if (options.ask_strength && (choice === "left" || choice === "right")) body.strength = strength();
  if (rationale) body.rationale = rationale;
  outbox.add({ kind: "judgement", id: body.client_id, assignment: pair.assignment, body });
  if (progress) setProgress({ mine: progress.mine + 1, remaining: progress.remaining - 1 });
  advance(root.querySelector(`.ann-choice[data-choice="${choice}"]`));
}

function skip() {
  const pair = queue[0];
  if (!pair || advancing) return;
  outbox.add({ kind: "skip", id: uuid4(), assignment: pair.assignment, body: {} });
  advance(root.querySelector(".ann-skip"));
}

// Highlights the pressed button for a moment, then shows the prefetched pair.
function advance(button) {
  advancing = true;
  button?.classList.add("chosen");
  hideNotice();
  renderSync();
  setTimeout(() => {
    advancing = false;
    queue.shift();
    if (queue[0]) show(queue[0]);
    else exhausted = false; // ask again: other annotators' leases may have expired
    render();
    sync();
  }, FLASH_MS);
}

// --- rendering -------------------------------------------------------------------------------

function setProgress(next) {
  progress = { mine: Math.max(0, next.mine), remaining: Math.max(0, next.remaining) };
  const total = progress.mine + progress.remaining;
  const percent = total ? Math.round((100 * progress.mine) / total) : 100;
  $("progress").hidden = false;
  $("progress-fill").style.width = `${percent}%`;
  root.querySelector('[role="progressbar"]').setAttribute("aria-valuenow", String(percent));
  $("progress-text").textContent = `${progress.mine} judged · ${progress.remaining} to go`;
}

function renderSync() {
  const waiting = outbox.items().length;
  const badge = $("sync");
  badge.hidden = waiting === 0;
  badge.textContent = `${waiting} waiting to sync${navigator.onLine ? "" : " · offline"}`;
}

function render() {
  let state;
  if (queue[0]) state = "pair";
  else if (outbox.items().length || !reachable) state = "waiting";
  else if (exhausted || root.dataset.state === "finished") state = "finished";
  else state = "loading";
  root.dataset.state = state;
  root.dataset.queued = String(queue.length); // 2 once the next pair is prefetched
  $("pair").hidden = state !== "pair";
  $("waiting").hidden = state !== "waiting";
  $("finished").hidden = state !== "finished";
  $("loading").hidden = state !== "loading";
  $("timer").hidden = state !== "pair";
  if (state === "finished" && progress) {
    const n = progress.mine;
    $("finished-text").textContent =
      `There is nothing left for you to judge in this project. ` +
      `You judged ${n} pair${n === 1 ? "" : "s"}. Thank you!`;
  }
  renderSync();
}

let noticeTimer = null;
function notify(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(hideNotice, 8000);
}

function hideNotice() {
  $("notice").hidden = true;
}

function tick() {
  const seconds = Math.floor((performance.now() - shownAt) / 1000);
  $("timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

// --- input -----------------------------------------------------------------------------------

function onRationaleKey(event) {
  if (event.key === "Escape") {
    rationaleBox.blur();
    return;
  }
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  // An optional reason is sent with the next choice; Enter is then just a new line.
  if (!staged && !event.ctrlKey && options.ask_rationale !== "required") return;
  event.preventDefault();
  if (RANKING) submitRanking();
  else if (staged) choose(staged);
  else notify("Choose a side first: press Esc, then a choice key, or click a button.");
}

function onKey(event) {
  if (event.target === rationaleBox) return onRationaleKey(event);
  if (editBox && event.target === editBox) return onEditKey(event);
  // Other form fields keep their own keys (arrows move between the strength radios).
  if (event.target.closest?.("input, select, textarea, [contenteditable]")) {
    if (event.key.startsWith("Arrow")) return;
  }
  if (event.altKey || event.ctrlKey || event.metaKey || event.repeat) return;
  const key = event.key.toLowerCase();
  if (key === "g" && guidelines) {
    guidelines.open = !guidelines.open;
    return;
  }
  if (root.dataset.state !== "pair") return;
  const rating = RANKING ? ratingIndex(event, SCALE.length) : -1;
  if (rating >= 0) {
    event.preventDefault();
    rate(rated.at, SCALE[rating]);
    return;
  }
  if (event.shiftKey && options.ask_strength && /^Digit[123]$/.test(event.code)) {
    event.preventDefault();
    setStrength(Number(event.code.slice(-1)));
    return;
  }
  if (event.shiftKey && key !== "=") return;
  if (key === "s") skip();
  else if (key === "r" && rationaleBox) {
    event.preventDefault();
    rationaleBox.focus();
  } else if (RANKING) {
    onRankingKey(event, key);
  } else if (RICH && (key === "arrowup" || key === "arrowdown")) {
    event.preventDefault();
    moveCursor(key === "arrowup" ? -1 : 1);
  } else if (RICH && onRowKey(key)) {
    event.preventDefault();
  } else if (KEYMAP[key]) {
    event.preventDefault();
    choose(KEYMAP[key]);
  }
}

document.addEventListener("keydown", onKey);
root.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || (RICH && onRowClick(button))) return;
  if (button.dataset.rate) {
    const card = button.closest(".ann-response");
    rate(Number(card.dataset.index), SCALE[Number(button.dataset.rate)]);
  } else if (button.dataset.choice) choose(button.dataset.choice);
  else if (button.dataset.action === "skip") skip();
  else if (button.dataset.action === "undo") undoPlace();
  else if (button.dataset.action === "tie") tieWithLast();
  else if (button.dataset.action === "submit") submitRanking();
});
root.addEventListener("click", (event) => {
  const card = RANKING && event.target.closest(".ann-ranked .ann-response");
  if (card && !event.target.closest("a, button")) place(Number(card.dataset.index));
});
if (RANKING) {
  const placeOf = (index) => placed.findIndex((group) => group.includes(index));
  enableDrag($("ranked"), { allowTie: options.allow_tie, placeOf, onDrop: dropAt });
}
if (RICH || RANK_ROWS) buildRows();
editBox?.addEventListener("input", renderDiff);
$("sync").addEventListener("click", () => sync());
window.addEventListener("online", () => sync());
window.addEventListener("offline", renderSync);
window.addEventListener("storage", (event) => {
  if (event.key === OUTBOX_KEY) renderSync();
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && outbox.items().length) sync();
});
if (guidelines) {
  const key = `prefloop:guidelines-open:${options.slug}`;
  guidelines.open = localStorage.getItem(key) !== "0";
  guidelines.addEventListener("toggle", () => localStorage.setItem(key, guidelines.open ? "1" : "0"));
}
setInterval(() => {
  if (root.dataset.state === "pair") tick();
}, 1000);

render();
sync();
