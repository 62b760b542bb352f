// Search snippets without the DOM: the server sends each hit's `highlight` as HTML-escaped text
// with <mark> tags around the matches. The page never parses it as HTML: it splits it into
// parts here and sets each part as text, marked or not.

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };

/** Text as Django's escape() wrote it, unescaped. */
export function unescapeHtml(text) {
  return text.replace(/&(?:amp|lt|gt|quot|#x27|#39);/g, (entity) => ENTITIES[entity]);
}

/** [{text, mark}] from a highlight: marked parts are the matches; nothing else is markup. */
export function highlightParts(html) {
  const parts = [];
  let mark = false;
  for (const piece of String(html).split(/(<\/?mark>)/)) {
    if (piece === "<mark>") mark = true;
    else if (piece === "</mark>") mark = false;
    else if (piece) parts.push({ text: unescapeHtml(piece), mark });
  }
  return parts;
}

/** Run `fn` once calls stop for `ms` (the search box waits for a pause in typing). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Where a hit opens: the room, at the message's seq (the room page reveals #seq-N). */
export function hitUrl(hit) {
  return `/rooms/${encodeURIComponent(hit.room.slug)}/#seq-${hit.message.seq}`;
}

/** "2.4 MB" and the like, for file chips. */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
