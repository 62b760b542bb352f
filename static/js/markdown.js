// Message bodies are CommonMark (CONTRACT.md §9), rendered by markdown-it and nothing else: no
// DOM here, so the same renderer serves the message list, the composer's preview, the node
// tests (tests/js/markdown.test.js) and the Python fuzz test (tests/chat/test_markdown_fuzz.py).
//
// Safety comes from markdown-it's own rules, kept as they ship: `html: false` escapes raw HTML
// (it shows as text), every text and attribute is escaped, and validateLink refuses
// javascript:, vbscript:, file: and data: URLs. Images are off (a chat message does not load
// third-party pixels; attachments are the way to share pictures).
//
// The library is passed in: the page imports markdown-it (bundled by build.mjs), node tests the
// copy in node_modules.

const MENTION = /^@([\w.+-]*[\w+-])/;
const WORD_OR_AT = /[\w@]/;
export const LINK_REL = "noopener nofollow";

/** An inline rule: `@name` not inside a word (as chat.services' mention pattern). */
function mention(state, silent) {
  if (state.src.charCodeAt(state.pos) !== 0x40 /* @ */) return false;
  if (state.pos > 0 && WORD_OR_AT.test(state.src[state.pos - 1])) return false;
  const match = MENTION.exec(state.src.slice(state.pos));
  if (!match) return false;
  if (!silent) state.push("mention", "", 0).content = match[0];
  state.pos += match[0].length;
  return true;
}

/** A renderer over the MarkdownIt class: render(source, {me}) -> {html, mentions}. */
export function markdownRenderer(MarkdownIt) {
  const md = new MarkdownIt("default", { html: false, linkify: true, breaks: true, typographer: false });
  md.disable("image");
  // Bare http(s) URLs become links, as before Markdown; "example.com" and emails stay text.
  md.linkify.set({ fuzzyLink: false, fuzzyEmail: false });
  md.inline.ruler.after("entity", "mention", mention);

  const renderToken = (tokens, idx, options, env, self) => self.renderToken(tokens, idx, options);
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx].attrSet("rel", LINK_REL);
    // Another site opens in a new tab; a path of this one (a game's invitation) in this tab.
    if (/^[a-z][a-z0-9+.-]*:/i.test(tokens[idx].attrGet("href") ?? "")) tokens[idx].attrSet("target", "_blank");
    return renderToken(tokens, idx, options, env, self);
  };
  md.renderer.rules.mention = (tokens, idx, options, env) => {
    const name = tokens[idx].content;
    env.mentions.push(name.slice(1));
    const mine = env.me && name.slice(1).toLowerCase() === env.me.toLowerCase();
    return `<span class="mention${mine ? " me" : ""}">${md.utils.escapeHtml(name)}</span>`;
  };

  return {
    render(source, { me = "" } = {}) {
      const env = { me, mentions: [] };
      const html = md.render(String(source ?? ""), env);
      return { html, mentions: env.mentions };
    },
  };
}
