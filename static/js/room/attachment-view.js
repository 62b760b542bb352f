// A message's files: images as thumbnails that open full size in a lightbox (a modal <dialog>,
// Escape or the Close button closes it, focus returns to the thumbnail), other files as a
// download chip with their name and size. Names are set as text, never as HTML.
import { formatSize } from "../search-highlight.js";
import { el } from "../ui.js";

function lightbox(attachment, opener) {
  const dialog = el("dialog", "lightbox");
  dialog.setAttribute("aria-label", attachment.name);
  const image = el("img", "lightbox-image");
  image.src = attachment.url;
  image.alt = attachment.name;
  const bar = el("div", "lightbox-bar");
  const download = el("a", "small-button", "Download");
  download.href = attachment.url;
  download.download = attachment.name;
  const close = el("button", "ghost small-button", "Close");
  close.type = "button";
  close.addEventListener("click", () => dialog.close());
  bar.append(el("span", "lightbox-name", attachment.name), download, close);
  dialog.append(image, bar);
  // A click on the backdrop (the dialog itself, outside its content) closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

function imageTile(attachment) {
  const button = el("button", "attachment-image");
  button.type = "button";
  button.setAttribute("aria-label", `Open image ${attachment.name}`);
  const thumb = el("img");
  thumb.src = attachment.thumbnail_url;
  thumb.alt = attachment.name;
  thumb.loading = "lazy";
  button.append(thumb);
  button.addEventListener("click", () => lightbox(attachment, button));
  return button;
}

function fileChip(attachment) {
  const link = el("a", "attachment-file");
  link.href = attachment.url;
  link.download = attachment.name;
  link.append(
    el("span", "attachment-name", attachment.name),
    el("span", "attachment-size muted", formatSize(attachment.size)),
  );
  link.setAttribute("aria-label", `Download ${attachment.name}, ${formatSize(attachment.size)}`);
  return link;
}

/** The files of a message as a list, or null if it has none. */
export function attachmentList(message) {
  const files = message.deleted ? [] : (message.attachments ?? []);
  if (!files.length) return null;
  const list = el("ul", "attachments");
  list.setAttribute("aria-label", "Attachments");
  for (const attachment of files) {
    const item = el("li");
    item.append(attachment.thumbnail_url ? imageTile(attachment) : fileChip(attachment));
    list.append(item);
  }
  return list;
}
