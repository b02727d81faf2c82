// The answer page on a kiosk tablet (/k/) and on a phone (/q/): faces, then an optional
// reason, comment and segment answer (who is answering), then thanks. Answers go through the
// outbox, so none is lost offline.

import { Outbox, sendStatus, tokenFor, tokenKey, uuid4 } from "./outbox.js";

const HEARTBEAT_MS = 60000;
const FLUSH_EVERY_MS = 60000;
const STAFF_PRESS_MS = 3000;

const main = document.getElementById("answer");
if (main) start(main);

function start(main) {
  const cfg = main.dataset;
  const unit = cfg.unit;
  const kiosk = cfg.mode === "kiosk";
  const words = document.getElementById("i18n").dataset;
  const reenrolKey = `hymy.reenrol.${unit}`;
  const screens = main.querySelectorAll("[data-screen]");
  const chips = main.querySelectorAll("[data-reason]");
  const segmentButtons = main.querySelectorAll("[data-segment-key]");
  const reasonsBox = document.getElementById("reasons");
  const revealReasons = main.querySelector("[data-reveal=reasons]");
  const comment = main.querySelector("textarea[name=comment]");
  const announcer = document.getElementById("announcer");
  const outbox = new Outbox(cfg.api, afterFlush);
  const ready = outbox.open();
  const pending = new Set();
  let answer = null;
  let idleTimer = null;
  let resetTimer = null;

  function show(name) {
    screens.forEach((screen) => {
      screen.hidden = screen.dataset.screen !== name;
    });
    main.dataset.current = name;
  }

  function announce(text) {
    announcer.textContent = "";
    setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  }

  function chooseFace(button) {
    if (main.dataset.current !== "faces") return;
    const polarity = button.dataset.polarity === "positive" ? "positive" : "negative";
    answer = { score: Number(button.dataset.score), answeredAt: new Date().toISOString(), reason: null, segment: {} };
    chips.forEach((chip) => {
      chip.hidden = chip.dataset.for !== "any" && chip.dataset.for !== polarity;
      chip.setAttribute("aria-pressed", "false");
    });
    segmentButtons.forEach((other) => other.setAttribute("aria-pressed", "false"));
    if (revealReasons) {
      // Easy read: the reasons wait behind their own button, one step at a time.
      revealReasons.hidden = false;
      revealReasons.setAttribute("aria-expanded", "false");
      reasonsBox.hidden = true;
    }
    comment.value = "";
    show("details");
    document.getElementById("details-title").focus();
    touch();
  }

  function toggleChip(chip) {
    if (!answer) return;
    const pressed = chip.getAttribute("aria-pressed") !== "true";
    chips.forEach((other) => other.setAttribute("aria-pressed", "false"));
    chip.setAttribute("aria-pressed", String(pressed));
    answer.reason = pressed ? chip.dataset.reason : null;
    touch();
  }

  /** Pick one answer per segment question; a second tap on the same answer takes it back. */
  function toggleSegment(button) {
    if (!answer) return;
    const key = button.dataset.segmentKey;
    const pressed = button.getAttribute("aria-pressed") !== "true";
    segmentButtons.forEach((other) => {
      if (other.dataset.segmentKey === key) other.setAttribute("aria-pressed", "false");
    });
    button.setAttribute("aria-pressed", String(pressed));
    if (pressed) answer.segment[key] = button.dataset.segmentValue;
    else delete answer.segment[key];
    touch();
  }

  function showReasons() {
    if (!answer) return;
    reasonsBox.hidden = false;
    revealReasons.setAttribute("aria-expanded", "true");
    revealReasons.hidden = true;
    const first = reasonsBox.querySelector("[data-reason]:not([hidden])");
    if (first) first.focus();
    touch();
  }

  /** Restart the idle timer: an unfinished answer is sent as it is when nobody touches it. */
  function touch() {
    clearTimeout(idleTimer);
    if (main.dataset.current === "details") {
      idleTimer = setTimeout(() => finish(true), Number(cfg.idleMs));
    }
  }

  function finish(withDetails) {
    if (!answer) return;
    clearTimeout(idleTimer);
    const body = { id: uuid4(), unit, score: answer.score, lang: cfg.currentLang, answered_at: answer.answeredAt };
    const text = comment.value.trim();
    if (withDetails && answer.reason) body.reason = answer.reason;
    if (withDetails && text) body.comment = text;
    if (withDetails && Object.keys(answer.segment).length) body.segment = { ...answer.segment };
    answer = null;
    comment.value = "";
    // The thanks come at once; storing and sending happen behind them.
    show("thanks");
    if (document.activeElement && main.contains(document.activeElement)) document.activeElement.blur();
    announce(words.thanks);
    const record = outbox.note(body, kiosk && Boolean(tokenFor(unit)));
    const queued = ready
      .then(() => outbox.add(record))
      .then(
        () => outbox.flush(),
        () => outbox.send(record), // Storage refused (full, private mode): at least try to send it now.
      );
    pending.add(queued);
    queued.finally(() => pending.delete(queued));
    if (kiosk) resetTimer = setTimeout(reset, Number(cfg.resetMs));
  }

  async function reset() {
    clearTimeout(resetTimer);
    if (cfg.currentLang !== cfg.defaultLang) {
      // Back to the unit's own language for the next client; the answer is stored first.
      await Promise.allSettled([...pending]);
      const url = new URL(location.href);
      url.searchParams.delete("lang");
      location.replace(url);
      return;
    }
    show("faces");
    document.getElementById("question").focus({ preventScroll: true });
  }

  main.addEventListener("click", (event) => {
    const face = event.target.closest("[data-score]");
    const chip = event.target.closest("[data-reason]");
    const action = event.target.closest("[data-action]");
    const segment = event.target.closest("[data-segment-key]");
    const reveal = event.target.closest("[data-reveal]");
    if (face) chooseFace(face);
    else if (chip) toggleChip(chip);
    else if (segment) toggleSegment(segment);
    else if (reveal) showReasons();
    else if (action && main.dataset.current === "details") finish(action.dataset.action === "send");
  });
  for (const type of ["input", "keydown", "pointerdown"]) main.addEventListener(type, touch);

  // Enrolment, device status and the kiosk's own upkeep.

  function setNotice(name, visible) {
    const notice = main.querySelector(`[data-notice="${name}"]`);
    if (notice) notice.hidden = !visible;
  }

  function refreshNotices() {
    if (!kiosk) return;
    setNotice("not-enrolled", !tokenFor(unit));
    setNotice("reenrol", localStorage.getItem(reenrolKey) === "1");
  }

  function afterFlush(outcome) {
    if (outcome.unauthorized === unit) localStorage.setItem(reenrolKey, "1");
    else if (outcome.authorized.has(unit)) localStorage.removeItem(reenrolKey);
    refreshNotices();
  }

  async function enrol(code) {
    let response;
    try {
      response = await fetch(cfg.enrolApi, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code }),
        credentials: "omit",
      });
    } catch {
      return; // No network: keep ?enrol= in the address so that a reload tries again.
    }
    const url = new URL(location.href);
    url.searchParams.delete("enrol");
    history.replaceState(null, "", url);
    if (response.status !== 201) {
      if (!tokenFor(unit)) localStorage.setItem(reenrolKey, "1");
      return;
    }
    const data = await response.json();
    localStorage.setItem(tokenKey(data.unit), data.token);
    localStorage.removeItem(`hymy.reenrol.${data.unit}`);
    if (data.unit !== unit) location.replace(`/k/${encodeURIComponent(data.unit)}`);
  }

  async function heartbeat() {
    const token = tokenFor(unit);
    if (!token) return;
    await ready;
    const { queued, oldest } = await outbox.summary(unit);
    const status = sendStatus();
    try {
      const response = await fetch(cfg.heartbeatApi, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({
          app_version: cfg.version,
          queued,
          oldest_queued_at: oldest,
          last_sent_at: status.lastSentAt || null,
          last_error: status.lastError || null,
        }),
        credentials: "omit",
        cache: "no-store",
      });
      if (response.status === 401) localStorage.setItem(reenrolKey, "1");
      else if (response.ok) localStorage.removeItem(reenrolKey);
      refreshNotices();
    } catch {
      // Offline: the next beat will tell.
    }
  }

  let wakeLock = null;
  async function keepAwake() {
    if (!("wakeLock" in navigator) || document.visibilityState !== "visible" || wakeLock) return;
    try {
      wakeLock = await navigator.wakeLock.request("screen");
      wakeLock.addEventListener("release", () => {
        wakeLock = null;
      });
    } catch {
      // Not allowed here (battery saver, no user gesture yet): the screen may sleep.
    }
  }

  /** Register the service worker and have it keep this page for offline reloads. */
  async function workOffline() {
    if (!("serviceWorker" in navigator)) return;
    try {
      await navigator.serviceWorker.register(cfg.sw, { scope: "/" });
      const registration = await navigator.serviceWorker.ready;
      const url = new URL(location.href);
      url.searchParams.delete("enrol");
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => {
        if (event.data === "cached") main.dataset.offline = "ready";
      };
      registration.active.postMessage({ type: "cache-page", url: url.href }, [channel.port2]);
    } catch {
      // Without a service worker the page still works online, and the outbox still holds answers.
    }
  }

  function showStatus() {
    const dialog = document.getElementById("device-status");
    if (!dialog || dialog.open) return;
    const fill = (name, text) => {
      dialog.querySelector(`[data-status="${name}"]`).textContent = text;
    };
    const when = (iso) => (iso ? new Date(iso).toLocaleString(cfg.currentLang) : words.never);
    const status = sendStatus();
    fill("enrolled", tokenFor(unit) ? words.yes : words.no);
    fill("last-sent", when(status.lastSentAt));
    fill("last-error", status.lastError || words.none);
    fill("offline-ready", main.dataset.offline === "ready" ? words.yes : words.no);
    ready
      .then(() => outbox.summary())
      .then(({ queued, oldest }) => {
        fill("queued", String(queued));
        fill("oldest", oldest ? when(oldest) : words.none);
      });
    dialog.showModal();
  }

  /** A hidden gesture for staff: press the unit's name for three seconds. */
  function staffGesture() {
    const target = main.querySelector(".unit-name");
    let timer = null;
    const cancel = () => clearTimeout(timer);
    target.addEventListener("pointerdown", () => {
      cancel();
      timer = setTimeout(showStatus, STAFF_PRESS_MS);
    });
    for (const type of ["pointerup", "pointerleave", "pointercancel"]) target.addEventListener(type, cancel);
    target.addEventListener("contextmenu", (event) => event.preventDefault());
  }

  async function boot() {
    const code = new URL(location.href).searchParams.get("enrol");
    if (kiosk && code) await enrol(code);
    refreshNotices();
    workOffline();
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
    await ready;
    outbox.flush();
    window.addEventListener("online", () => {
      outbox.retryNow();
      if (kiosk) heartbeat();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") outbox.flush();
    });
    setInterval(() => outbox.flush(), FLUSH_EVERY_MS);
    if (kiosk) {
      staffGesture();
      keepAwake();
      document.addEventListener("visibilitychange", keepAwake);
      main.addEventListener("pointerdown", keepAwake);
      heartbeat();
      setInterval(heartbeat, HEARTBEAT_MS);
    }
  }

  show("faces");
  boot();
}
