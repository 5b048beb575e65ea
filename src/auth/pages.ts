/**
 * The authorization pages: plain server-rendered HTML, no JavaScript, every
 * form carrying the request handle and its CSRF token (field names per
 * docs/interface.md: `username`, `password`, `Sign in`; `name` and one
 * button per patient; `Allow` / `Deny`).
 */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface FormState {
  request: string;
  csrfToken: string;
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.75rem 0}input{display:block;width:100%;padding:.4rem;box-sizing:border-box}
button{padding:.5rem 1rem;margin:.25rem .25rem .25rem 0}.error{color:#a00}ul.patients{list-style:none;padding:0}
ul.patients button{width:100%;text-align:left}
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function hidden(f: FormState): string {
  return `<input type="hidden" name="request" value="${escapeHtml(f.request)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(f.csrfToken)}">`;
}

function alert(message?: string): string {
  return message ? `<p class="error" role="alert">${escapeHtml(message)}</p>\n` : '';
}

export function loginPage(f: FormState, clientName: string, error?: string): string {
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
<p><strong>${escapeHtml(clientName)}</strong> wants to access health records on your behalf.</p>
${alert(error)}<form method="post" action="login">
${hidden(f)}
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`,
  );
}

export function patientPickerPage(f: FormState, patients: { id: string; label: string }[], name: string, error?: string): string {
  const list = patients.length
    ? `<ul class="patients">
${patients.map((p) => `<li><button type="submit" name="patient" value="${escapeHtml(p.id)}">${escapeHtml(p.label)}</button></li>`).join('\n')}
</ul>`
    : '<p>No patients found.</p>';
  return layout(
    'Select a patient',
    `<h1>Select a patient</h1>
${alert(error)}<form method="post" action="patient">
${hidden(f)}
<label>Name <input name="name" value="${escapeHtml(name)}"></label>
<button type="submit">Search</button>
</form>
<form method="post" action="patient">
${hidden(f)}
${list}
</form>`,
  );
}

export function consentPage(f: FormState, clientName: string, scopes: string[], patientLabel?: string): string {
  return layout(
    'Allow access?',
    `<h1>Allow access?</h1>
<p><strong>${escapeHtml(clientName)}</strong> asks to:</p>
<ul class="scopes">
${scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('\n')}
</ul>
${patientLabel ? `<p>Patient: <strong>${escapeHtml(patientLabel)}</strong></p>\n` : ''}<form method="post" action="consent">
${hidden(f)}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

export function errorPage(message: string): string {
  return layout('Authorization failed', `<h1>Authorization failed</h1>\n${alert(message)}`);
}
