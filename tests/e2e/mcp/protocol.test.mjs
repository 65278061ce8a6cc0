// The MCP protocol surface of `beat mcp start`: initialize, tools/list, protocol errors, and
// what real clients send on the wire (claude's server/discover probe, id 0, big ids).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { McpError } from '@modelcontextprotocol/sdk/types.js';

import { connect, makeEnv, RawConn } from './helpers.mjs';

const TOOLS = [
    'CancelTask',
    'DelegateTask',
    'RetryTask',
    'SystemStatus',
    'TaskLogs',
    'TaskStatus',
    'WaitForTask',
];

describe('protocol', () => {
    let ctx;
    before(() => {
        ctx = makeEnv('protocol');
    });
    after(async () => {
        await ctx.cleanup();
    });

    test('initialize: server info, instructions, capabilities', async () => {
        const { client } = await connect(ctx, { list: false });
        const info = client.getServerVersion();
        assert.equal(info.name, 'backbeat');
        const version = ctx.beat('version').stdout.trim();
        assert.match(info.version, /^\d+\.\d+\.\d+/);
        assert.ok(version.includes(info.version), `beat version "${version}" vs ${info.version}`);
        const instructions = client.getInstructions();
        assert.equal(typeof instructions, 'string');
        assert.ok(instructions.length > 20, 'instructions say how to use the tools');
        assert.match(instructions, /DelegateTask/);
        const caps = client.getServerCapabilities();
        assert.ok(caps.tools, 'tools capability');
        assert.ok(caps.logging, 'logging capability');
    });

    test('initialize: protocol version negotiation', async () => {
        for (const [asked, want] of [
            ['2025-11-25', '2025-11-25'],
            ['2025-06-18', '2025-06-18'],
            ['1999-01-01', '2025-11-25'],
        ]) {
            const raw = new RawConn(ctx);
            const r = await raw.initialize(0, asked);
            assert.equal(r.result?.protocolVersion, want, `asked ${asked}: ${JSON.stringify(r)}`);
            raw.proc.stdin.end();
            assert.ok(await raw.waitExit(), 'relay exits on stdin EOF');
        }
    });

    test('tools/list: every tool is fully described', async () => {
        const { client } = await connect(ctx, { list: false });
        const { tools } = await client.listTools();
        const names = tools.map((t) => t.name);
        for (const n of TOOLS) {
            assert.ok(names.includes(n), `tool ${n} listed (got ${names.join(', ')})`);
        }
        for (const t of tools) {
            assert.ok(t.title && typeof t.title === 'string', `${t.name}: title`);
            assert.ok(t.description && t.description.length > 10, `${t.name}: description`);
            assert.equal(t.inputSchema.type, 'object', `${t.name}: inputSchema type`);
            assert.equal(
                t.inputSchema.additionalProperties,
                false,
                `${t.name}: inputSchema.additionalProperties false`,
            );
            assert.ok(t.outputSchema && t.outputSchema.type === 'object', `${t.name}: outputSchema`);
            assert.ok(t.annotations && typeof t.annotations === 'object', `${t.name}: annotations`);
            for (const h of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint']) {
                assert.equal(typeof t.annotations[h], 'boolean', `${t.name}: annotations.${h}`);
            }
        }
        const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
        assert.equal(byName.TaskStatus.annotations.readOnlyHint, true);
        assert.equal(byName.CancelTask.annotations.destructiveHint, true);
        assert.deepEqual(byName.DelegateTask.inputSchema.required, ['prompt']);
    });

    test('unknown tool: JSON-RPC error -32602', async () => {
        const { client } = await connect(ctx);
        await assert.rejects(
            client.callTool({ name: 'NoSuchTool', arguments: {} }),
            (e) => e instanceof McpError && e.code === -32602,
        );
        // The connection still works.
        const r = await client.callTool({ name: 'SystemStatus', arguments: {} });
        assert.equal(r.structuredContent.success, true);
    });

    test('raw: server/discover probe, id 0, parse errors, batches, big ids, huge lines', async () => {
        const raw = new RawConn(ctx);
        // claude's first message: a string id, a method we do not have.
        const probe = await raw.request('server-discover-probe-1', 'server/discover', {
            _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' },
        });
        assert.equal(probe.id, 'server-discover-probe-1');
        assert.equal(probe.error?.code, -32601, JSON.stringify(probe));
        // Then initialize with id 0, as every real client does.
        const init = await raw.initialize(0);
        assert.equal(init.id, 0);
        assert.equal(init.result?.serverInfo?.name, 'backbeat', JSON.stringify(init));

        // An unparseable line: -32700 with a null id, and the connection goes on.
        let from = raw.lines.length;
        await raw.send('{"jsonrpc":"2.0","id":5,"method":');
        const pe = await raw.next((m) => m && m.error, { from, what: 'the parse error' });
        assert.equal(pe.msg.error.code, -32700);
        assert.equal(pe.msg.id, null);
        assert.ok('result' in (await raw.request(6, 'ping')), 'ping after a parse error');

        // A batch: -32600.
        from = raw.lines.length;
        await raw.send([{ jsonrpc: '2.0', id: 7, method: 'ping' }]);
        const be = await raw.next((m) => m && m.error, { from, what: 'the batch error' });
        assert.equal(be.msg.error.code, -32600);
        assert.ok('result' in (await raw.request(8, 'ping')), 'ping after a batch');

        // An unknown method with a numeric id.
        const um = await raw.request(9, 'no/such/method');
        assert.equal(um.error?.code, -32601);

        // A 20-digit integer id comes back exactly as sent (not rounded to a double).
        from = raw.lines.length;
        await raw.send('{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}');
        const big = await raw.next((m, line) => /"id"\s*:\s*12345678901234567890\s*[,}]/.test(line), {
            from,
            what: 'the reply with the 20-digit id',
        });
        assert.ok(big.msg && 'result' in big.msg, big.raw);

        // A 5 MiB line: an error reply, and the connection survives.
        from = raw.lines.length;
        const pad = 'x'.repeat(5 * 1024 * 1024);
        await raw.send(`{"jsonrpc":"2.0","id":10,"method":"ping","params":{"pad":"${pad}"}}`);
        const huge = await raw.next((m) => m && (m.id === 10 || m.id === null), {
            from,
            what: 'a reply to the 5 MiB line',
        });
        assert.ok(huge.msg.error, `5 MiB line answered with an error: ${huge.raw.slice(0, 300)}`);
        const ok = await raw.request(11, 'tools/list');
        assert.ok(ok.result?.tools?.length >= TOOLS.length, 'tools/list after the huge line');

        // stdout carried protocol messages only.
        for (const l of raw.lines) {
            assert.doesNotThrow(() => JSON.parse(l), `stdout line is JSON: ${l.slice(0, 200)}`);
        }
        raw.proc.stdin.end();
        assert.ok(await raw.waitExit(), 'relay exits on stdin EOF');
    });
});
