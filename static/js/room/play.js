// The room's "Play" button: create a game of light cycles (the room is invited by a system
// message with its link) and go to it.

import { api } from "../api.js";
import { toast } from "../toast.js";

const button = document.getElementById("play-button");
const room = JSON.parse(document.getElementById("room-data").textContent);

button?.addEventListener("click", async () => {
  button.disabled = true;
  const answer = await api("POST", `/api/rooms/${room.slug}/games/`, { kind: "cycles" });
  if (answer.ok) {
    window.location.assign(`/games/${answer.data.id}/`);
    return;
  }
  button.disabled = false;
  toast({ title: "Could not start a game", body: answer.error, tone: "error" });
});
