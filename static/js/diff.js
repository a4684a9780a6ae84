// A word diff of an edit against the text it improves, for the live diff under the edit box.

// Words and the spaces between them; a diff of those reads like the edit that was made.
function tokens(text) {
  return text.split(/(\s+)/).filter(Boolean);
}

// [op, text] runs, op one of "same", "del", "ins": a longest common subsequence of the words
// between the common head and tail (whole-block replace when that would be too slow).
export function diff(before, after) {
  const a = tokens(before);
  const b = tokens(after);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a.at(-1 - tail) === b.at(-1 - tail)) {
    tail++;
  }
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const middle = [];
  if (x.length * y.length > 250000) {
    middle.push(["del", x.join("")], ["ins", y.join("")]);
  } else {
    const lcs = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
    for (let i = x.length - 1; i >= 0; i--) {
      for (let j = y.length - 1; j >= 0; j--) {
        lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
      if (i < x.length && j < y.length && x[i] === y[j]) {
        middle.push(["same", x[i]]);
        i++;
        j++;
      } else if (j < y.length && (i === x.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
        middle.push(["ins", y[j++]]);
      } else middle.push(["del", x[i++]]);
    }
  }
  const runs = [];
  const parts = [["same", a.slice(0, head).join("")], ...middle];
  parts.push(["same", a.slice(a.length - tail).join("")]);
  for (const [op, text] of parts) {
    if (!text) continue;
    const last = runs.at(-1);
    if (last && last[0] === op) last[1] += text;
    else runs.push([op, text]);
  }
  return runs;
}


// The diff as <span>/<del>/<ins> runs, text only, ready to go into the diff box.
export function diffNodes(before, after) {
  const tags = { same: "span", del: "del", ins: "ins" };
  return diff(before, after).map(([op, text]) => {
    const part = document.createElement(tags[op]);
    part.textContent = text;
    return part;
  });
}
