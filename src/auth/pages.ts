/** The small HTML pages the loopback callback shows in the browser. Everything echoed is escaped. */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(kind: 'success' | 'failure', title: string, lines: string[]): string {
  const colour = kind === 'success' ? '#1a7f37' : '#b42318';
  const mark = kind === 'success' ? '✓' : '✗';
  const body = lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n    ');
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ckym — ${escapeHtml(title)}</title>
  <style>
    body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f6f7f9; color: #1f2328; margin: 0; }
    main { max-width: 34rem; margin: 12vh auto; background: #fff; border-radius: 12px; padding: 2rem 2.25rem;
           box-shadow: 0 1px 3px rgba(0,0,0,.08), 0 8px 24px rgba(0,0,0,.06); }
    h1 { font-size: 1.35rem; margin: 0 0 1rem; color: ${colour}; }
    .mark { font-size: 1.6rem; margin-right: .4rem; }
    p { margin: .5rem 0; }
    footer { margin-top: 1.5rem; color: #6e7781; font-size: .85rem; }
  </style>
</head>
<body>
  <main>
    <h1 id="result" data-result="${kind}"><span class="mark">${mark}</span>${escapeHtml(title)}</h1>
    ${body}
    <footer>ckym — CallKeeper calls into Yandex Metrica</footer>
  </main>
</body>
</html>
`;
}
