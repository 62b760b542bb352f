// One collaborative editing session on a room's notes: a Y.Doc whose Y.Text "notes" is bound to a
// CodeMirror 6 editor (y-codemirror.next) and synced with the server by y-websocket's provider
// over /ws/rooms/<slug>/notes/ (CONTRACT §8). Edits made while offline stay in the document and
// merge when the provider reconnects (it does so by itself, with backoff).
import { defaultKeymap } from "@codemirror/commands";
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, drawSelection, dropCursor, highlightSpecialChars, keymap, placeholder } from "@codemirror/view";
import { WebsocketProvider } from "y-websocket";
import { yCollab, ySyncAnnotation, yUndoManagerKeymap } from "y-codemirror.next";
import * as Y from "yjs";

import { ENDS_NOTES, closeInfo } from "../closecodes.js";
import { userColors } from "./colors.js";

// The server refuses frames over SWITCHBOARD_MAX_FRAME_BYTES (64 KiB). A UTF-8 character takes
// up to 3 bytes per UTF-16 unit, so one change of this many characters always fits.
export const MAX_INSERT_CHARS = 16000;

// y-websocket drops a socket that has heard nothing for 30 s; the server does not echo a
// client's own awareness back, so a lone editor asks for the server's state this often.
const RESYNC_MS = 12000;

/**
 * A WebSocket that hands binary frames to y-websocket and text frames (the server's JSON error
 * frames, e.g. `rate_limited`) to `onText`: y-websocket would try to decode them as Yjs messages.
 */
function socketClass(onText) {
  return class NotesSocket extends WebSocket {
    get onmessage() {
      return super.onmessage;
    }

    set onmessage(handler) {
      super.onmessage = handler
        ? (event) => (typeof event.data === "string" ? onText(event.data) : handler(event))
        : null;
    }
  };
}

const theme = EditorView.theme({
  "&": { height: "100%", color: "var(--text)", backgroundColor: "transparent", fontSize: "0.97rem" },
  "&.cm-focused": { outline: "none" },
  ".cm-scroller": {
    fontFamily: "inherit",
    lineHeight: "1.6",
    overflow: "auto",
    overscrollBehavior: "contain",
  },
  ".cm-content": { padding: "1rem 1.25rem 2.5rem", caretColor: "var(--accent)", minHeight: "100%" },
  ".cm-line": { padding: "0" },
  ".cm-cursor, .cm-dropCursor": { borderLeft: "2px solid var(--accent)" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection":
    { backgroundColor: "color-mix(in srgb, var(--accent) 24%, transparent)" },
  ".cm-placeholder": { color: "var(--muted)" },
  // Remote carets: the name label always shows (it fades a little while the pointer is away).
  ".cm-ySelectionCaret": { borderLeftWidth: "2px", borderRightWidth: "0", marginRight: "0" },
  ".cm-ySelectionInfo": {
    opacity: "1",
    top: "-1.45em",
    left: "-2px",
    padding: "0.05em 0.4em",
    borderRadius: "5px 5px 5px 0",
    fontFamily: "inherit",
    fontSize: "0.72rem",
    fontWeight: "650",
    lineHeight: "1.4",
    color: "#fff",
    boxShadow: "0 1px 2px rgb(0 0 0 / 20%)",
  },
  ".cm-ySelectionCaretDot": { display: "none" },
});

/**
 * @param {object} options
 *   parent: element the editor goes in; slug, username; readOnly: start read-only (archived)
 *   onStatus({state, text}): the connection as a person reads it
 *   onPeers(names): the other people in the notes now
 *   onTooLarge(): a change was refused for its size
 */
export function startSession({ parent, slug, username, readOnly, onStatus, onPeers, onTooLarge }) {
  const doc = new Y.Doc();
  const ytext = doc.getText("notes");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let ended = null; // the final close code, once there is one
  let everSynced = false;
  let resyncTimer = null;

  // y-websocket builds `${serverUrl}/${roomname}`: with an empty room name that is exactly the
  // server's route, trailing slash included.
  const provider = new WebsocketProvider(
    `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(slug)}/notes`,
    "",
    doc,
    {
      WebSocketPolyfill: socketClass(onTextFrame),
      maxBackoffTime: 10000,
      resyncInterval: RESYNC_MS,
      // Not after 4001, 4003, 4008, a frame too large (1009, 4009) or a refused update (4010):
      // the next sync would only be refused again.
      shouldReconnect: (event) => !ENDS_NOTES.has(event.code),
    },
  );
  const awareness = provider.awareness;
  awareness.setLocalStateField("user", { name: username, ...userColors(username) });

  function onTextFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame?.type === "error" && frame.code === "rate_limited" && resyncTimer === null) {
      // The server dropped a frame, perhaps an update: a new connection syncs both ways again.
      resyncTimer = setTimeout(() => {
        resyncTimer = null;
        if (provider.ws && provider.wsconnected) provider.ws.close();
      }, 1500);
    }
  }

  // Someone new arrived: say who we are again, so their page shows our caret and name now
  // rather than at our next periodic renewal (the server relays awareness; it does not store it).
  awareness.on("change", ({ added }, origin) => {
    if (origin !== "local" && added.some((id) => id !== doc.clientID) && awareness.getLocalState()) {
      awareness.setLocalState(awareness.getLocalState());
    }
    const names = new Set();
    for (const [id, state] of awareness.getStates()) {
      const name = state?.user?.name;
      if (id !== doc.clientID && name && name !== username) names.add(name);
    }
    onPeers([...names].sort());
  });

  function report() {
    if (ended !== null) {
      onStatus({ state: "ended", text: closeInfo(ended).label });
    } else if (provider.wsconnected && provider.synced) {
      everSynced = true;
      onStatus({ state: "live", text: "Live" });
    } else if (provider.wsconnected) {
      onStatus({ state: "connecting", text: "Syncing…" });
    } else if (!everSynced) {
      onStatus({ state: "connecting", text: "Connecting…" });
    } else if (!navigator.onLine) {
      onStatus({ state: "offline", text: "Offline" });
    } else {
      onStatus({ state: "reconnecting", text: "Reconnecting…" });
    }
  }
  provider.on("status", report);
  provider.on("sync", report);
  provider.on("closed", ({ code }) => {
    ended = code;
    setReadOnly(true);
    report();
  });
  const onNetwork = () => {
    report();
    // Back online: try now rather than when the backoff says.
    if (navigator.onLine && ended === null && !provider.wsconnected && provider.shouldConnect) {
      provider.disconnect();
      provider.connect();
    }
  };
  window.addEventListener("online", onNetwork);
  window.addEventListener("offline", onNetwork);

  const editable = new Compartment();
  // Read-only keeps the text focusable and selectable; only changes from the server apply.
  const editableExtensions = (locked) =>
    locked
      ? [
          EditorState.readOnly.of(true),
          EditorState.changeFilter.of((tr) => Boolean(tr.annotation(ySyncAnnotation))),
          EditorView.contentAttributes.of({ "aria-readonly": "true" }),
        ]
      : [];
  const sizeGuard = EditorState.changeFilter.of((tr) => {
    if (tr.annotation(ySyncAnnotation)) return true; // remote changes always apply
    let inserted = 0;
    tr.changes.iterChanges((_fromA, _toA, _fromB, _toB, text) => {
      inserted += text.length;
    });
    if (inserted <= MAX_INSERT_CHARS) return true;
    queueMicrotask(onTooLarge);
    return false;
  });

  const undoManager = new Y.UndoManager(ytext);
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        highlightSpecialChars(),
        drawSelection(),
        dropCursor(),
        EditorView.lineWrapping,
        keymap.of([...yUndoManagerKeymap, ...defaultKeymap]),
        placeholder("Agendas, decisions, links: anything the room should keep. Everyone here can edit."),
        EditorView.contentAttributes.of({ "aria-label": "Notes", spellcheck: "true" }),
        editable.of(editableExtensions(readOnly)),
        sizeGuard,
        yCollab(ytext, awareness, { undoManager }),
        theme,
      ],
    }),
  });

  function setReadOnly(locked) {
    if (locked) undoManager.clear(); // an undo would change the text through Yjs directly
    view.dispatch({ effects: editable.reconfigure(editableExtensions(locked)) });
  }

  report();
  return {
    view,
    provider,
    setReadOnly,
    get ended() {
      return ended;
    },
    focus: () => view.focus(),
  };
}
