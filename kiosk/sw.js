// The kiosk's service worker: keeps the answer pages and their files so that a tablet
// reloaded without network still shows the faces. Answers themselves never pass through
// a cache: they go to the outbox in IndexedDB and to the API, which this worker leaves alone.

const VERSION = new URL(self.location.href).searchParams.get("v") || "dev";
const STATIC_CACHE = `hymy-static-${VERSION}`;
// Pages live in their own cache, so that a new version of the files does not forget them.
const PAGES_CACHE = "hymy-pages-v1";
const STATIC_FILES = ["/static/kiosk.js", "/static/outbox.js", "/static/kiosk.css", "/static/icon.svg"];
const PAGE = /^\/[kq]\/[^/]+(\/manifest\.webmanifest)?$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(STATIC_CACHE)
      .then((cache) => cache.addAll(STATIC_FILES.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("hymy-static-") && name !== STATIC_CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

/** The cache key of a page: its path and language, without one-time parameters such as ?enrol=. */
function pageKey(href) {
  const url = new URL(href, self.location.origin);
  const key = new URL(url.pathname, self.location.origin);
  const lang = url.searchParams.get("lang");
  if (lang) key.searchParams.set("lang", lang);
  return key.href;
}

async function remember(href, response) {
  if (response.ok && response.type === "basic") {
    const cache = await caches.open(PAGES_CACHE);
    await cache.put(pageKey(href), response);
  }
}

async function networkFirst(request) {
  try {
    const response = await fetch(request);
    await remember(request.url, response.clone());
    return response;
  } catch (error) {
    const cache = await caches.open(PAGES_CACHE);
    const cached =
      (await cache.match(pageKey(request.url))) ||
      (await cache.match(pageKey(new URL(request.url).pathname))) ||
      (await cache.match(pageKey(request.url), { ignoreSearch: true }));
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(STATIC_CACHE);
  const cached = await cache.match(request, { ignoreSearch: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (STATIC_FILES.includes(url.pathname)) event.respondWith(cacheFirst(request));
  else if (PAGE.test(url.pathname)) event.respondWith(networkFirst(request));
});

// The page asks to be kept: its first load happened before this worker controlled it.
self.addEventListener("message", (event) => {
  if (!event.data || event.data.type !== "cache-page") return;
  const href = event.data.url;
  if (new URL(href).origin !== self.location.origin || !PAGE.test(new URL(href).pathname)) return;
  event.waitUntil(
    fetch(pageKey(href), { cache: "no-store" })
      .then((response) => remember(href, response))
      .then(() => event.ports[0] && event.ports[0].postMessage("cached"))
      .catch(() => event.ports[0] && event.ports[0].postMessage("failed")),
  );
});
