// The outbox: every answer is stored on the device first and leaves only when the server
// has acknowledged it (201 stored or 200 duplicate). Shared by the kiosk and the phone page.

const DB_NAME = "hymy";
const STORE = "outbox";
const STATUS_KEY = "hymy.status";
const OPTIONAL_FIELDS = ["reason", "segment"];
const JOURNAL_KEY = "hymy.journal";
const SEND_TIMEOUT_MS = 10000;
const BACKOFF_CAP_MS = 60000;

/** Return a random UUID version 4, also outside secure contexts. */
export function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key)) || {};
  } catch {
    return {};
  }
}

export function tokenKey(unit) {
  return `hymy.token.${unit}`;
}

export function tokenFor(unit) {
  return localStorage.getItem(tokenKey(unit));
}

/** Return what the device remembers about sending: last success and last refused answer. */
export function sendStatus() {
  return readJson(STATUS_KEY);
}

function saveStatus(changes) {
  try {
    localStorage.setItem(STATUS_KEY, JSON.stringify({ ...sendStatus(), ...changes }));
  } catch {
    // Only the status panel and the heartbeat miss it.
  }
}

function journal(change) {
  try {
    const records = readJson(JOURNAL_KEY);
    change(records);
    localStorage.setItem(JOURNAL_KEY, JSON.stringify(records));
  } catch {
    // Storage full or switched off: IndexedDB alone has to do.
  }
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Records in IndexedDB, keyed by the answer's id. */
class IndexedStore {
  constructor(db) {
    this.db = db;
  }

  static async open() {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    return new IndexedStore(await request(req));
  }

  run(mode, action) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, mode, { durability: "strict" });
      const req = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  put(record) {
    return this.run("readwrite", (s) => s.put(record));
  }

  remove(id) {
    return this.run("readwrite", (s) => s.delete(id));
  }

  all() {
    return this.run("readonly", (s) => s.getAll());
  }
}

/** The same records in localStorage, for browsers where IndexedDB is unavailable. */
class LocalStore {
  read() {
    return readJson("hymy.outbox");
  }

  async put(record) {
    localStorage.setItem("hymy.outbox", JSON.stringify({ ...this.read(), [record.id]: record }));
  }

  async remove(id) {
    const records = this.read();
    delete records[id];
    localStorage.setItem("hymy.outbox", JSON.stringify(records));
  }

  async all() {
    return Object.values(this.read());
  }
}

export class Outbox {
  /**
   * api: the answer endpoint; onChange(outcome) hears how each flush went: outcome.unauthorized
   * names a unit whose device token the server refused, outcome.authorized the units whose
   * token it accepted, outcome.retry whether answers are still waiting.
   */
  constructor(api, onChange = () => {}) {
    this.api = api;
    this.onChange = onChange;
    this.failures = 0;
    this.timer = null;
    this.running = null;
    this.again = false;
  }

  async open() {
    try {
      this.store = await IndexedStore.open();
    } catch {
      this.store = new LocalStore();
    }
    // Answers noted just before the last page was closed or reloaded.
    try {
      for (const record of Object.values(readJson(JOURNAL_KEY))) await this.add(record);
    } catch {
      // They stay in the journal for the next load.
    }
    return this;
  }

  /**
   * Note an answer at once, synchronously, so that it survives a reload a moment after the tap;
   * `kiosk` says it was given on an enrolled kiosk and goes with its token. Return the record.
   */
  note(body, kiosk) {
    const record = { id: body.id, unit: body.unit, kiosk, body, queued_at: new Date().toISOString() };
    journal((records) => {
      records[record.id] = record;
    });
    return record;
  }

  /** Put a noted answer in the outbox proper. */
  async add(record) {
    await this.store.put(record);
    journal((records) => {
      delete records[record.id];
    });
  }

  async records() {
    const all = await this.store.all();
    return all.sort((a, b) => (a.body.answered_at < b.body.answered_at ? -1 : 1));
  }

  /** Return the queue length and the oldest queued answered_at, for one unit or all. */
  async summary(unit) {
    const records = (await this.records()).filter((r) => !unit || r.unit === unit);
    return { queued: records.length, oldest: records.length ? records[0].body.answered_at : null };
  }

  /** Send what is queued, one answer at a time; retry later with backoff if something failed. */
  flush() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    clearTimeout(this.timer);
    this.running = this.sendAll()
      .catch(() => ({ retry: true, unauthorized: null, authorized: new Set() }))
      .then((outcome) => {
        this.running = null;
        if (this.again) {
          this.again = false;
          return this.flush();
        }
        if (outcome.retry) {
          this.failures += 1;
          const delay = Math.min(BACKOFF_CAP_MS, 1000 * 2 ** this.failures) * (0.8 + Math.random() * 0.4);
          this.timer = setTimeout(() => this.flush(), delay);
        } else {
          this.failures = 0;
        }
        this.onChange(outcome);
      });
    return this.running;
  }

  /** Send again now and forget the backoff, e.g. when the network comes back. */
  retryNow() {
    this.failures = 0;
    return this.flush();
  }

  async sendAll() {
    const blocked = new Set();
    const authorized = new Set();
    let unauthorized = null;
    for (const record of await this.records()) {
      if (blocked.has(record.unit)) continue;
      const outcome = await this.send(record);
      if (outcome === "sent" || outcome === "dropped") {
        await this.store.remove(record.id);
        if (outcome === "sent" && record.kiosk) authorized.add(record.unit);
      } else if (outcome === "unauthorized") {
        // The token of this unit's kiosk is revoked: keep its answers, go on with the others.
        blocked.add(record.unit);
        unauthorized = record.unit;
      } else {
        return { retry: true, unauthorized, authorized };
      }
    }
    return { retry: blocked.size > 0, unauthorized, authorized };
  }

  async send(record) {
    const headers = { "Content-Type": "application/json" };
    const token = record.kiosk ? tokenFor(record.unit) : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), SEND_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(this.api, {
        method: "POST",
        headers,
        body: JSON.stringify(record.body),
        signal: abort.signal,
        cache: "no-store",
        // A kiosk proves itself with its token; a phone sends the unit's "answered" cookie.
        credentials: token ? "omit" : "same-origin",
      });
    } catch {
      return "retry";
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 200 || response.status === 201) {
      saveStatus({ lastSentAt: new Date().toISOString() });
      return "sent";
    }
    if (response.status === 401) return "unauthorized";
    // Server trouble, a timeout or a rate limit: the answer is fine, try again later.
    if (response.status >= 500 || [408, 425, 429].includes(response.status)) return "retry";
    let detail = "";
    let field = null;
    try {
      const data = await response.json();
      field = data.field;
      detail = `${data.field || ""}: ${data.error || ""}`;
    } catch {
      detail = response.statusText;
    }
    // A reason or segment the unit stopped offering while the answer waited here: the score and
    // comment still count, so send the answer again without the part the unit no longer asks.
    if (response.status === 422 && OPTIONAL_FIELDS.includes(field) && field in record.body) {
      delete record.body[field];
      await this.store.put(record);
      return this.send(record);
    }
    // Anything else the server will refuse every time: drop it, and report it in the heartbeat.
    saveStatus({ lastError: `${response.status} ${detail} (answer ${record.id})`.slice(0, 300) });
    return "dropped";
  }
}
