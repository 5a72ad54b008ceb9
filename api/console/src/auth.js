// Logging in (OAuth2 password flow) and keeping the token for this browser tab.

const KEY = "geowarn.console.token";

export function storedToken() {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  const { token, expires } = JSON.parse(raw);
  return Date.now() < expires ? token : null;
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

export async function login(username, password) {
  const response = await fetch("/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail ?? `login failed (HTTP ${response.status})`);
  const expires = Date.now() + (body.expires_in - 30) * 1000;  // renew before the server refuses
  sessionStorage.setItem(KEY, JSON.stringify({ token: body.access_token, expires }));
  return body.access_token;
}

/** Show the login form until the user logs in; resolves with the token. */
export function loginForm(form, errorLine) {
  form.hidden = false;
  return new Promise((resolve) => {
    form.addEventListener("submit", async function submit(event) {
      event.preventDefault();
      errorLine.textContent = "";
      const data = new FormData(form);
      try {
        const token = await login(data.get("username"), data.get("password"));
        form.removeEventListener("submit", submit);
        form.hidden = true;
        resolve(token);
      } catch (error) {
        errorLine.textContent = error.message;
      }
    });
  });
}

export const can = (me, permission) => me.permissions.includes(permission);
export const ACT = "act";  // GET /auth/me lists permission names
export const REVIEW = "review";  // accept or reject candidate areas
