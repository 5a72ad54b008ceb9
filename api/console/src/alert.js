// Attention for new orange and red warnings: a banner and a short tone made with WebAudio
// (no sound file). The mute choice is remembered in this browser.

import { h, replace } from "./dom.js";
import { levelName } from "./levels.js";

const MUTE_KEY = "geowarn.console.muted";
const BANNER_MS = 15000;

export function createAlerter({ button, banner, onOpen }) {
  let muted = localStorage.getItem(MUTE_KEY) === "true";
  let audio = null;
  let hideTimer = null;

  function render() {
    button.setAttribute("aria-pressed", String(muted));
    button.textContent = muted ? "Sound off" : "Sound on";
  }
  // Browsers allow audio only after a gesture: unlock it on the first one.
  const unlock = () => {
    audio ??= new AudioContext();
    audio.resume();
  };
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });
  button.addEventListener("click", () => {
    muted = !muted;
    localStorage.setItem(MUTE_KEY, String(muted));
    render();
  });
  render();

  function tone(level) {
    if (!audio || audio.state !== "running") return false;
    const now = audio.currentTime;
    const beeps = level === "red" ? [0, 0.25, 0.5] : [0, 0.3];
    for (const start of beeps) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = level === "red" ? 880 : 660;
      gain.gain.setValueAtTime(0.0001, now + start);
      gain.gain.exponentialRampToValueAtTime(0.3, now + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.18);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(now + start);
      oscillator.stop(now + start + 0.2);
    }
    return true;
  }

  /** Highlight a new urgent warning event; returns whether a tone was played. */
  function alert(event) {
    const played = muted ? false : tone(event.to_level);
    banner.dataset.level = event.to_level;
    banner.dataset.warningId = event.warning_id;
    banner.dataset.sound = muted ? "muted" : played ? "played" : "blocked";
    replace(banner,
      h("strong", {}, `New ${levelName(event.to_level)} warning`), " ",
      `${event.point_name} · ${event.county ?? ""} ${event.province ?? ""} · `,
      `${event.threatened_people} people threatened `,
      h("button", { type: "button", onclick: () => onOpen(event.warning_id) }, "Open"),
      h("button", { type: "button", class: "link", onclick: () => { banner.hidden = true; } }, "Dismiss"));
    banner.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => { banner.hidden = true; }, BANNER_MS);
    return played;
  }

  return { alert, muted: () => muted };
}
