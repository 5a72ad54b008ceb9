// The API client: bearer token on every request, errors as ApiError with the server's reason.

export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.body = body;
  }
}

function describe(status, body) {
  const detail = body && typeof body === "object" ? body.detail : body;
  if (Array.isArray(detail)) {  // FastAPI validation errors: say which field and why
    return detail.map((item) => `${(item.loc ?? []).slice(1).join(".")}: ${item.msg}`).join("; ");
  }
  return detail ? String(detail) : `HTTP ${status}`;
}

export function createApi({ token, onUnauthorized }) {
  async function request(method, path, { json, form, headers = {} } = {}) {
    const sent = { ...headers };
    const bearer = token();
    if (bearer) sent.Authorization = `Bearer ${bearer}`;
    let body;
    if (form !== undefined) body = form;
    else if (json !== undefined) {
      sent["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    const response = await fetch(path, { method, headers: sent, body });
    const type = response.headers.get("content-type") ?? "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (response.status === 401 && bearer) onUnauthorized?.();
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
  return {
    get: (path) => request("GET", path),
    post: (path, json, options = {}) => request("POST", path, { json, ...options }),
    upload: (path, formData) => request("POST", path, { form: formData }),
    request,
  };
}
