// A WebSocket that reconnects by itself with exponential backoff and reports its state
// (connecting, live, reconnecting, closed) so the page can show it.

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const POLICY_VIOLATION = 1008;

/**
 * `path` is relative to the page's origin; the token goes in `access_token` because
 * browsers cannot set headers on a WebSocket. `onMessage` gets parsed JSON frames;
 * `onState(state, detail)`; `onReconnected()` after a drop, once the server said hello
 * (events may have been missed meanwhile: reload the state).
 */
export function liveSocket(path, { token, onMessage, onState, onReconnected, onRefused }) {
  let socket = null;
  let delay = FIRST_DELAY_MS;
  let timer = null;
  let dropped = false;
  let stopped = false;

  function url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const separator = path.includes("?") ? "&" : "?";
    return `${scheme}//${location.host}${path}${separator}access_token=${encodeURIComponent(token())}`;
  }

  function open() {
    onState?.(dropped ? "reconnecting" : "connecting");
    socket = new WebSocket(url());
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "hello") {
        delay = FIRST_DELAY_MS;
        onState?.("live");
        if (dropped) onReconnected?.();
        dropped = false;
      }
      onMessage?.(message);
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (stopped) return onState?.("closed");
      if (event.code === POLICY_VIOLATION) onRefused?.(event.reason);
      dropped = true;
      const wait = delay * (0.75 + Math.random() / 2);  // jitter: consoles do not return in step
      delay = Math.min(MAX_DELAY_MS, delay * 2);
      onState?.("reconnecting", `retry in ${Math.round(wait / 1000)} s`);
      timer = setTimeout(open, wait);
    });
  }

  open();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      socket?.close(1000);
    },
    /** For an operator (and tests): drop the connection as a network failure would. */
    drop() { socket?.close(4000, "dropped by the client"); },
  };
}

export function showState(badge, state, detail) {
  badge.dataset.state = state;
  badge.textContent = detail ? `${state} (${detail})` : state;
}
