// The official TypeScript MCP client (@modelcontextprotocol/client 2.x) against `vault-agent mcp`.
// Reads one JSON job on stdin — {mcp, auth0, control, user_id, token, mode, url_elicitation, start} — and
// prints one JSON line with what it saw. `mode` is the client's version negotiation ("auto", "legacy");
// the user's clicks at the tenant go through the sandbox's control API, as in the Python tests.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString());

async function click(url) {
  const answer = await fetch(job.control + '/control/authorize', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, user_id: job.user_id, action: 'approve' }),
  });
  return (await answer.json()).redirect_url;
}

async function browse(url) {
  for (let i = 0; i < 10; i++) {
    if (url.startsWith(job.auth0)) { url = await click(url); continue; }
    const response = await fetch(url, { redirect: 'manual' });
    if (![301, 302, 303, 307].includes(response.status)) return response.status;
    url = response.headers.get('location');
  }
  throw new Error('too many redirects');
}

const seen = { asked: [], completed: [] };
const client = new Client({ name: 'vault-agent-ts-test', version: '1.0.0' }, {
  capabilities: { elicitation: job.url_elicitation ? { form: {}, url: {} } : { form: {} } },
  versionNegotiation: { mode: job.mode },
});
client.setRequestHandler('elicitation/create', async (request) => {
  seen.asked.push(request.params);
  if (request.params.mode !== 'url') return { action: 'decline' };
  seen.page_status = await browse(request.params.url);
  return { action: 'accept' };
});
client.setNotificationHandler('notifications/elicitation/complete', (notification) => {
  seen.completed.push(notification.params.elicitationId);
});

const transport = new StreamableHTTPClientTransport(new URL(job.mcp), {
  authProvider: { token: async () => job.token },
});
await client.connect(transport);
seen.protocol_version = client.getNegotiatedProtocolVersion();
const call = { name: 'list_calendar_events', arguments: { start: job.start } };
let result;
try {
  result = await client.callTool(call);
} catch (error) {
  // 2025-11-25: -32042 carries the link; the user opens it, the client retries.
  seen.error_code = error.code;
  const url = error.elicitations?.[0]?.url ?? error.data?.elicitations?.[0]?.url;
  seen.error_url = url;
  seen.page_status = await browse(url);
  await new Promise((resolve) => setTimeout(resolve, 500)); // the completion notification's moment
  result = await client.callTool(call);
}
if (result.isError && !job.url_elicitation) {
  seen.fallback_text = result.content[0].text;
  seen.page_status = await browse(seen.fallback_text.split('Open ')[1].split(/\s/)[0]);
  result = await client.callTool(call);
}
seen.is_error = result.isError ?? false;
seen.text = result.content[0].text;
await client.close();
console.log(JSON.stringify(seen));
