// The praise wall: show one praise at a time, fetch new praise now and then.
// Without this script the page still lists every praise; with it the list rotates.

const ROTATE_MS = 12000;
const CALM_ROTATE_MS = 20000; // prefers-reduced-motion: no fading and a slower pace

const main = document.querySelector("[data-wall]");
if (main) start(main);

function start(main) {
  const list = main.querySelector(".wall-items");
  const toggle = main.querySelector("[data-wall-toggle]");
  const calm = window.matchMedia("(prefers-reduced-motion: reduce)");
  const pollMs = Math.max(15, Number(main.dataset.pollSeconds) || 60) * 1000;
  let current = 0;
  let paused = false;
  let timer = null;

  main.classList.add("wall-rotating");
  list.removeAttribute("aria-live"); // rotating text is not announced every few seconds
  show(0);
  schedule();

  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    paused = !paused;
    toggle.textContent = paused ? main.dataset.playText : main.dataset.pauseText;
    toggle.setAttribute("aria-pressed", String(paused));
    schedule();
  });
  calm.addEventListener("change", schedule);
  setInterval(poll, pollMs);

  function items() {
    return Array.from(list.children);
  }

  function show(index) {
    const all = items();
    if (!all.length) return;
    current = (index + all.length) % all.length;
    all.forEach((item, i) => item.classList.toggle("is-current", i === current));
  }

  function schedule() {
    clearInterval(timer);
    if (!paused) timer = setInterval(() => show(current + 1), calm.matches ? CALM_ROTATE_MS : ROTATE_MS);
  }

  async function poll() {
    let data;
    try {
      const response = await fetch(main.dataset.itemsUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) return; // a revoked link, or the server is away: keep showing what we have
      data = await response.json();
    } catch {
      return;
    }
    const known = new Set(items().map((item) => item.dataset.id));
    const fresh = data.items.filter((item) => !known.has(item.id));
    const sameSet = fresh.length === 0 && data.items.length === known.size;
    if (sameSet) return;
    list.replaceChildren(...(data.items.length ? data.items.map(render) : [empty()]));
    show(0); // the newest praise first
    schedule();
  }

  function render(item) {
    const li = document.createElement("li");
    li.className = "wall-item";
    li.dataset.id = item.id;
    const quote = document.createElement("blockquote");
    quote.textContent = item.text;
    const source = document.createElement("p");
    source.className = "wall-source";
    source.textContent = `${item.source} · ${item.day}`;
    li.append(quote, source);
    return li;
  }

  function empty() {
    const li = document.createElement("li");
    li.className = "wall-item wall-empty";
    const p = document.createElement("p");
    p.textContent = main.dataset.emptyText;
    li.append(p);
    return li;
  }
}
