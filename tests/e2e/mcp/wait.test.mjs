// WaitForTask as a long request: progress notifications carrying the newest output line, and
// cancellation by the client (notifications/cancelled), after which the connection goes on.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { call, connect, makeEnv, RawConn, waitFor, waitForAgent } from './helpers.mjs';

describe('WaitForTask', () => {
    let ctx;
    let client;

    before(async () => {
        ctx = makeEnv('wait');
        ({ client } = await connect(ctx));
    });
    after(async () => {
        await ctx.cleanup();
    });

    test('progress notifications with the newest output line', async () => {
        const go = path.join(ctx.dir, 'progress.go');
        const d = await call(client, 'DelegateTask', {
            prompt: `progress [lines=2] [wait-file=${go}] [lines=4]`,
            agent: 'claude',
        });
        await waitForAgent(ctx, 'progress [lines=2]');
        // Progress comes every 5 s: release the agent once the first notification arrived.
        const notes = [];
        const w = await call(
            client,
            'WaitForTask',
            { taskId: d.taskId, timeoutMs: 20000 },
            {
                onprogress: (p) => {
                    notes.push(p);
                    fs.writeFileSync(go, '');
                },
                timeout: 30000,
            },
        );
        assert.ok(notes.length >= 1, 'at least one progress notification');
        assert.equal(w.done, true, 'the wait ended with the task');
        assert.equal(w.tasks[0].status, 'completed');
        const first = notes[0];
        assert.equal(typeof first.progress, 'number');
        assert.ok(
            typeof first.message === 'string' && first.message.includes('line 2'),
            `the first notification carries the newest line (line 2): ${JSON.stringify(first)}`,
        );
        for (let i = 1; i < notes.length; i++) {
            assert.ok(notes[i].progress > notes[i - 1].progress, 'progress increases');
        }
    });

    test('the client cancels a wait; the connection still works', async () => {
        const go = path.join(ctx.dir, 'abort.go');
        const d = await call(client, 'DelegateTask', {
            prompt: `abortable [wait-file=${go}]`,
            agent: 'claude',
        });
        const ac = new AbortController();
        const pending = client.callTool(
            { name: 'WaitForTask', arguments: { taskId: d.taskId, timeoutMs: 600000 } },
            undefined,
            { signal: ac.signal, timeout: 700000 },
        );
        // A later request on the same connection answered means the wait reached the server.
        const s = await call(client, 'TaskStatus', { taskId: d.taskId });
        assert.ok(['queued', 'running'].includes(s.status));
        const t0 = Date.now();
        ac.abort('test cancels the wait');
        await assert.rejects(pending);
        assert.ok(Date.now() - t0 < 2000, 'the SDK gave up at once');
        const sys = await call(client, 'SystemStatus', {});
        assert.equal(sys.success, true, 'a new request on the same connection works');
        fs.writeFileSync(go, '');
        const w = await call(client, 'WaitForTask', { taskId: d.taskId, timeoutMs: 30000 });
        assert.equal(w.tasks[0].status, 'completed');
    });

    test('notifications/cancelled stops the wait on the server (raw)', async () => {
        const go = path.join(ctx.dir, 'raw-cancel.go');
        const raw = new RawConn(ctx);
        await raw.initialize(0);
        const d = await raw.request(1, 'tools/call', {
            name: 'DelegateTask',
            arguments: { prompt: `raw cancel [wait-file=${go}]`, agent: 'claude' },
        });
        const taskId = d.result.structuredContent.taskId;
        await raw.send({
            jsonrpc: '2.0',
            id: 2,
            method: 'tools/call',
            params: {
                name: 'WaitForTask',
                arguments: { taskId, timeoutMs: 600000 },
                _meta: { progressToken: 'raw-wait' },
            },
        });
        // Requests are read in order: once 3 is answered, 2 is being served.
        assert.ok('result' in (await raw.request(3, 'ping')));
        await raw.send({
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: 2, reason: 'client gave up' },
        });
        assert.ok('result' in (await raw.request(4, 'ping')), 'the connection still serves');
        // The task ends; the cancelled wait must not answer after that.
        fs.writeFileSync(go, '');
        await waitFor(
            async () => {
                const r = await raw.request(`st-${Date.now()}`, 'tools/call', {
                    name: 'TaskStatus',
                    arguments: { taskId },
                });
                return r.result?.structuredContent?.status === 'completed';
            },
            { timeout: 15000, what: 'the task to complete' },
        );
        assert.ok('result' in (await raw.request(5, 'ping')));
        const answered = raw.lines.some((l) => {
            try {
                const m = JSON.parse(l);
                return m.id === 2 && 'result' in m && !m.result?.isError;
            } catch {
                return false;
            }
        });
        assert.equal(answered, false, 'no result for the cancelled wait');
        raw.proc.stdin.end();
        await raw.waitExit();
    });
});
