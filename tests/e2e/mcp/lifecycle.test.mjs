// The relay's life: it survives a daemon restart under a connected client, ends on stdin EOF,
// SIGTERM and SIGINT (how real clients stop it) with status 0, and its end never touches the
// daemon or the tasks it delegated.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { alive, call, connect, makeEnv, RawConn, waitForAgent } from './helpers.mjs';

describe('relay lifecycle', () => {
    let ctx;

    before(() => {
        ctx = makeEnv('lifecycle');
    });
    after(async () => {
        await ctx.cleanup();
    });

    test('a connected client keeps working across `beat daemon restart`', async (t) => {
        // A state dir of its own: whatever the restart leaves must not touch the other tests.
        const ctx = makeEnv('restart');
        t.after(() => ctx.cleanup());
        const { client } = await connect(ctx);
        const s1 = await call(client, 'SystemStatus', {});
        const go = path.join(ctx.dir, 'restart.go');
        const d = await call(client, 'DelegateTask', {
            prompt: `across restart [wait-file=${go}] [lines=2]`,
            agent: 'claude',
        });
        await waitForAgent(ctx, 'across restart');
        const t0 = Date.now();
        const r = ctx.beatT(8000, 'daemon', 'restart');
        assert.equal(
            r.status,
            0,
            `daemon restart with a client attached: exit ${r.status} after ${Date.now() - t0} ms: ${r.stderr}`,
        );
        const s2 = await call(client, 'SystemStatus', {});
        assert.notEqual(s2.daemon.pid, s1.daemon.pid, 'a new daemon answers');
        assert.ok(!alive(s1.daemon.pid), 'the old daemon is gone');
        const st = await call(client, 'TaskStatus', { taskId: d.taskId });
        assert.equal(st.status, 'running', 'the task was re-adopted');
        fs.writeFileSync(go, '');
        const w = await call(client, 'WaitForTask', { taskId: d.taskId, timeoutMs: 30000 });
        assert.equal(w.tasks[0].status, 'completed');
        const l = await call(client, 'TaskLogs', { taskId: d.taskId });
        assert.ok(l.output.includes('line 2'));
        await client.close();
    });

    test('stdin EOF ends `beat mcp start` with status 0', async () => {
        const raw = new RawConn(ctx);
        await raw.initialize(0);
        raw.proc.stdin.end();
        const e = await raw.waitExit(5000);
        assert.deepEqual(e, { code: 0, signal: null });
    });

    test('stdin EOF before initialize ends it too', async () => {
        const raw = new RawConn(ctx);
        raw.proc.stdin.end();
        const e = await raw.waitExit(5000);
        assert.deepEqual(e, { code: 0, signal: null });
    });

    for (const sig of ['SIGTERM', 'SIGINT']) {
        test(`${sig} ends the relay with status 0 and leaves the daemon and its task`, async () => {
            const go = path.join(ctx.dir, `${sig}.go`);
            const raw = new RawConn(ctx);
            await raw.initialize(0);
            const d = await raw.request(1, 'tools/call', {
                name: 'DelegateTask',
                arguments: { prompt: `outlives the relay ${sig} [wait-file=${go}]`, agent: 'claude' },
            });
            const taskId = d.result.structuredContent.taskId;
            const rec = await waitForAgent(ctx, `outlives the relay ${sig}`);
            const sys = await raw.request(2, 'tools/call', { name: 'SystemStatus', arguments: {} });
            const daemonPid = sys.result.structuredContent.daemon.pid;
            raw.proc.kill(sig); // stdin stays open, as claude and gemini do
            const e = await raw.waitExit(5000);
            assert.deepEqual(e, { code: 0, signal: null }, `${sig}: exit status`);
            assert.ok(alive(daemonPid), 'the daemon goes on');
            assert.ok(alive(rec.pid), 'the agent goes on');
            fs.writeFileSync(go, '');
            const r = ctx.beat('wait', taskId, '--timeout', '30000', '--json');
            assert.equal(r.status, 0, r.stderr);
            assert.equal(JSON.parse(r.stdout).tasks[0].status, 'completed');
        });
    }
});
