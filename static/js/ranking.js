// A ranking item's parts that hold no page state: its groups, the ratings of its responses and
// the rule for when an edit of the best one is required. annotate.js wires them to the page.

// The keys of a rating scale's values, worst first (with Shift on a ranking page, where the
// plain digits place responses); KeyboardEvent.code, so they do not depend on the layout.
export const SCALE_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "-"];
const SCALE_CODES = [...SCALE_KEYS.slice(0, 10).map((k) => `Digit${k}`), "Minus"];

// Groups of display indexes, best first, as "2 = 4 > 1 > 3".
export function orderText(groups) {
  return groups.map((group) => group.map((i) => i + 1).join(" = ")).join(" > ");
}

// Places response `index` below the last group, or in it when `tie`; false if already placed.
export function addTo(groups, index, tie) {
  if (groups.some((group) => group.includes(index))) return false;
  if (tie && groups.length) groups[groups.length - 1].push(index);
  else groups.push([index]);
  return true;
}

// Takes the last placed response back out.
export function removeLast(groups) {
  const last = groups[groups.length - 1];
  if (!last) return;
  last.pop();
  if (!last.length) groups.pop();
}

// Moves response `index` (placed or not) next to placed response `target`: "above" gives it
// its own place just better than the target's, "below" just worse, "tie" puts it in the
// target's group; "last" (or a target not placed) puts it below every group. Edits `groups` in
// place, so the ranking it belongs to keeps it; false when the order does not change.
export function moveTo(groups, index, where, target) {
  if (index === target && where !== "last") return false;
  const before = orderText(groups);
  const rest = groups.map((group) => group.filter((i) => i !== index)).filter((g) => g.length);
  const at = rest.findIndex((group) => group.includes(target));
  if (at >= 0 && where === "tie") rest[at].push(index);
  else if (at >= 0 && where === "above") rest.splice(at, 0, [index]);
  else if (at >= 0 && where === "below") rest.splice(at + 1, 0, [index]);
  else rest.push([index]);
  groups.splice(0, groups.length, ...rest);
  return orderText(groups) !== before;
}

// The scale index a Shift+key rates with, or -1. A Shift+key that types "=" (Shift+0 on some
// layouts) stays the tie key.
export function ratingIndex(event, size) {
  if (!event.shiftKey || event.key === "=") return -1;
  const index = SCALE_CODES.indexOf(event.code);
  return index < size ? index : -1;
}

// The ratings of one item's responses, and the response the rating keys go to.
export class Ratings {
  constructor(scale) {
    this.scale = scale;
    this.reset(0);
  }

  reset(count) {
    this.count = count;
    this.values = {}; // {display index: a value of the scale}
    this.at = 0;
  }

  // Rates a response and moves the rating keys on to the next one.
  rate(index, value) {
    this.values[index] = value;
    this.at = Math.min(index + 1, this.count - 1);
  }

  move(by) {
    this.at = Math.max(0, Math.min(this.count - 1, this.at + by));
  }

  // {response id: value} for the judgement body, as the API takes it.
  body(responses) {
    return Object.fromEntries(
      Object.entries(this.values).map(([index, value]) => [responses[index].id, value]),
    );
  }
}

// Whether the project requires an edit of a best response rated `rating` (undefined: not
// rated). With `edit_below`, only a rating under it (scale order, worst first) requires one;
// an unrated response is treated as under it, so the server never has to refuse the edit.
export function editRequired(options, rating) {
  if (options.edits !== "required") return false;
  const below = (options.rating_scale || []).indexOf(options.edit_below);
  if (options.edit_below == null || below < 0) return true;
  const at = options.rating_scale.indexOf(rating);
  return at < 0 || at < below;
}

// Why an edit is (or is not) required, for the edit box's label.
export function editNeedText(options, rating) {
  if (!editRequired(options, rating)) return "optional: submit unchanged to skip";
  const reason = editNeedReason(options, rating);
  return reason ? `required: ${reason}` : "required";
}

// What makes an edit required under `edit_below` ("" without it).
export function editNeedReason(options, rating) {
  if (options.edit_below == null) return "";
  return rating === undefined
    ? `rate it ${options.edit_below} or better, or improve it`
    : `it is rated below ${options.edit_below}`;
}
