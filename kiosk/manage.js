// The unit page: refresh today's card every few seconds, so a tap on the kiosk shows up
// without a reload. The server renders the figures; this only keeps them current.

const INTERVAL_MS = 5000;
const HIGHLIGHT_MS = 2000;

/** Render a percentage with its interval, or the "fewer than 5 answers" words. */
function percentage(cell, value, low, high, texts) {
  if (value === null || value === undefined) {
    few(cell, texts);
    return;
  }
  const strong = document.createElement("strong");
  strong.className = "figure";
  strong.textContent = `${Math.round(value)} %`;
  const ci = document.createElement("span");
  ci.className = "ci";
  const interval = texts.interval.replace("{low}", Math.round(low)).replace("{high}", Math.round(high));
  ci.textContent = `(${interval})`;
  cell.replaceChildren(strong, " ", ci);
}

/** Render the index 0 to 100, or the "fewer than 5 answers" words. */
function index(cell, value, texts) {
  if (value === null || value === undefined) {
    few(cell, texts);
    return;
  }
  const strong = document.createElement("strong");
  strong.className = "figure";
  strong.textContent = String(Math.round(value));
  const wrapper = document.createElement("span");
  wrapper.className = "nowrap";
  wrapper.append(strong, " / 100");
  cell.replaceChildren(wrapper);
}

function few(cell, texts) {
  const span = document.createElement("span");
  span.className = "few";
  span.textContent = texts.few;
  cell.replaceChildren(span);
}

/** Put the figures of a tally.json reply into the card; return true when the count changed. */
export function updateCard(card, data, texts) {
  const figure = (name) => card.querySelector(`[data-figure="${name}"]`);
  const today = data.today;
  const answers = figure("answers");
  const changed = answers !== null && answers.textContent.trim() !== String(today.answers);
  if (answers) answers.textContent = String(today.answers);
  for (const [score, count] of Object.entries(data.per_score)) {
    const cell = figure(`score-${score}`);
    if (cell) cell.textContent = String(count);
  }
  const positive = figure("pct_positive");
  if (positive) percentage(positive, today.pct_positive, today.pct_positive_low, today.pct_positive_high, texts);
  const negative = figure("pct_negative");
  if (negative) percentage(negative, today.pct_negative, today.pct_negative_low, today.pct_negative_high, texts);
  const idx = figure("index");
  if (idx) index(idx, today.index, texts);
  return changed;
}

function startRefreshing(root) {
  const card = root.querySelector('[data-period="today"]');
  if (!card) return;
  const status = document.querySelector("[data-refresh-status]");
  const texts = { few: root.dataset.textFew || "", interval: root.dataset.textInterval || "{low}–{high} %" };
  let timer = null;
  let stopped = false;
  let busy = false;

  const schedule = () => {
    if (!stopped && timer === null && !document.hidden) timer = setTimeout(tick, INTERVAL_MS);
  };

  async function tick() {
    timer = null;
    if (busy) return;
    busy = true;
    try {
      const response = await fetch(root.dataset.refresh, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      const type = response.headers.get("Content-Type") || "";
      if (!response.ok || !type.includes("application/json")) {
        // Signed out (the sign-in page came back) or no longer allowed: stop asking.
        if (response.status !== 429 && response.status < 500) stopped = true;
        return;
      }
      if (updateCard(card, await response.json(), texts)) {
        card.classList.add("just-updated");
        setTimeout(() => card.classList.remove("just-updated"), HIGHLIGHT_MS);
        const total = card.querySelector(".answers-total");
        const heading = card.querySelector("h2");
        if (status && total) status.textContent = `${heading ? heading.textContent + ": " : ""}${total.textContent}`;
      }
    } catch {
      // Offline for a moment: try again on the next round.
    } finally {
      busy = false;
      schedule();
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!stopped && timer === null && !busy) {
      tick();
    }
  });
  schedule();
}

const root = document.querySelector("[data-refresh]");
if (root) startRefreshing(root);
