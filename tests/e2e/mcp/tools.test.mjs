// Every tool through the MCP TypeScript SDK client (which validates structuredContent against
// each tool's outputSchema once tools/list was read), and the error results a model sees.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import {
    alive,
    call,
    connect,
    makeEnv,
    RawConn,
    textMatchesStructured,
    waitForAgent,
} from './helpers.mjs';

const UNKNOWN = 'task-00000000-0000-4000-8000-000000000000';

describe('tools', () => {
    let ctx;
    let client;
    let doneId; // a completed task
    let failedId; // a failed task

    before(async () => {
        ctx = makeEnv('tools');
        ({ client } = await connect(ctx));
    });
    after(async () => {
        await ctx.cleanup();
    });

    test('DelegateTask -> WaitForTask -> TaskStatus -> TaskLogs', async () => {
        const d = await client.callTool({
            name: 'DelegateTask',
            arguments: { prompt: 'mcp flow [lines=3]', agent: 'claude' },
        });
        assert.ok(!d.isError, d.content?.[0]?.text);
        assert.ok(textMatchesStructured(d), 'text is the same JSON as structuredContent');
        const del = d.structuredContent;
        assert.equal(del.success, true);
        assert.match(del.taskId, /^task-[0-9a-f-]{36}$/);
        assert.ok(['queued', 'running'].includes(del.status), del.status);
        assert.equal(del.priority, 'P2');
        assert.equal(del.agent, 'claude');
        assert.equal(del.workingDirectory, ctx.work, "default directory is the client's cwd");
        assert.equal(typeof del.message, 'string');
        doneId = del.taskId;

        const w = await call(client, 'WaitForTask', { taskId: doneId, timeoutMs: 30000 });
        assert.equal(w.success, true);
        assert.equal(w.done, true);
        assert.equal(w.timedOut, false);
        assert.equal(w.tasks.length, 1);
        assert.equal(w.tasks[0].taskId, doneId);
        assert.equal(w.tasks[0].status, 'completed');

        const s = await call(client, 'TaskStatus', { taskId: doneId });
        assert.equal(s.taskId, doneId);
        assert.equal(s.status, 'completed');
        assert.equal(s.prompt, 'mcp flow [lines=3]');
        assert.equal(s.priority, 'P2');
        assert.equal(s.agent, 'claude');
        assert.equal(s.workingDirectory, ctx.work);
        assert.equal(typeof s.timeout, 'number');
        assert.ok(s.createdAt <= s.startedAt && s.startedAt <= s.completedAt, 'times in order');
        assert.equal(s.duration, s.completedAt - s.startedAt);
        assert.equal(s.exitCode, 0);
        assert.equal(s.endReason, 'exited');
        assert.equal(typeof s.pid, 'number');
        assert.match(s.sessionId, /^[0-9a-f-]{36}$/);
        assert.equal(s.result, 'Hello from fake claude.');
        assert.equal(s.usage.inputTokens, 12);
        assert.equal(s.usage.outputTokens, 8);
        assert.ok(s.usage.costUsd > 0);
        assert.equal(typeof s.checkpoint, 'object', 'a completed task has a checkpoint');

        const l = await call(client, 'TaskLogs', { taskId: doneId });
        for (const n of [1, 2, 3]) {
            assert.ok(l.output.includes(`line ${n}`), `output has line ${n}`);
        }
        assert.equal(l.errors, '');
        assert.ok(l.lineCount.output >= 3, `lineCount ${JSON.stringify(l.lineCount)}`);
        assert.equal(l.lineCount.errors, 0);
        assert.equal(typeof l.offset, 'number');
        assert.equal(typeof l.errorsOffset, 'number');
        assert.equal(l.status, 'completed');
        const tail = await call(client, 'TaskLogs', { taskId: doneId, tail: 1 });
        assert.equal(tail.output.trimEnd().split('\n').length, 1, 'tail 1 is one line');
        const from0 = await call(client, 'TaskLogs', { taskId: doneId, offset: 0 });
        assert.ok(from0.output.includes('line 1'), 'offset 0 reads from the start');
        const rest = await call(client, 'TaskLogs', { taskId: doneId, offset: from0.offset });
        assert.equal(rest.output, '', 'nothing after the returned offset');
        assert.equal(rest.offset, from0.offset);
    });

    test('TaskStatus lists tasks', async () => {
        const all = await call(client, 'TaskStatus', {});
        assert.ok(Array.isArray(all.tasks));
        assert.ok(all.total >= 1);
        assert.ok(all.tasks.some((t) => t.taskId === doneId));
        const one = await call(client, 'TaskStatus', { status: 'completed', limit: 1 });
        assert.equal(one.tasks.length, 1);
        assert.equal(one.tasks[0].status, 'completed');
        const none = await call(client, 'TaskStatus', { status: 'completed', offset: 1000 });
        assert.equal(none.tasks.length, 0);
    });

    test('RetryTask', async () => {
        const d = await call(client, 'DelegateTask', { prompt: 'mcp fail [exit=4]', agent: 'claude' });
        failedId = d.taskId;
        const w = await call(client, 'WaitForTask', { taskId: failedId, timeoutMs: 30000 });
        assert.equal(w.tasks[0].status, 'failed');
        assert.equal(w.tasks[0].exitCode, 4);
        const r = await call(client, 'RetryTask', { taskId: failedId });
        assert.equal(r.success, true);
        assert.match(r.newTaskId, /^task-/);
        assert.notEqual(r.newTaskId, failedId);
        assert.equal(r.retryCount, 1);
        assert.equal(r.parentTaskId, failedId);
        const w2 = await call(client, 'WaitForTask', { taskId: r.newTaskId, timeoutMs: 30000 });
        assert.equal(w2.tasks[0].status, 'failed');
        const s2 = await call(client, 'TaskStatus', { taskId: r.newTaskId });
        assert.equal(s2.prompt, 'mcp fail [exit=4]');
        assert.equal(s2.exitCode, 4);
        assert.equal(s2.retryOf, failedId);
    });

    test('CancelTask returns after the agent stopped', async () => {
        const marker = `cancel-${process.pid}-${Date.now()}`;
        const d = await call(client, 'DelegateTask', {
            prompt: `${marker} [wait-file=${path.join(ctx.dir, 'never')}]`,
            agent: 'claude',
        });
        const rec = await waitForAgent(ctx, marker);
        assert.ok(alive(rec.pid));
        const c = await call(client, 'CancelTask', { taskId: d.taskId, reason: 'no longer needed' });
        assert.equal(c.success, true);
        assert.equal(c.taskId, d.taskId);
        assert.equal(c.status, 'cancelled');
        assert.equal(typeof c.message, 'string');
        assert.ok(!alive(rec.pid), `agent ${rec.pid} stopped when CancelTask returned`);
        const s = await call(client, 'TaskStatus', { taskId: d.taskId });
        assert.equal(s.status, 'cancelled');
        assert.equal(s.endReason, 'cancelled');
        assert.match(s.reason, /no longer needed/);
    });

    test('WaitForTask on several tasks and until running', async () => {
        const a = await call(client, 'DelegateTask', { prompt: 'wait a', agent: 'claude' });
        const b = await call(client, 'DelegateTask', { prompt: 'wait b', agent: 'claude' });
        const w = await call(client, 'WaitForTask', { taskIds: [a.taskId, b.taskId], timeoutMs: 30000 });
        assert.equal(w.done, true);
        assert.deepEqual(w.tasks.map((t) => t.status), ['completed', 'completed']);
        const hold = path.join(ctx.dir, 'hold-running');
        const c = await call(client, 'DelegateTask', { prompt: `held [wait-file=${hold}]`, agent: 'claude' });
        const r = await call(client, 'WaitForTask', { taskId: c.taskId, until: 'running', timeoutMs: 30000 });
        assert.equal(r.done, true);
        assert.equal(r.tasks[0].status, 'running');
        const t0 = Date.now();
        const z = await call(client, 'WaitForTask', { taskId: c.taskId, timeoutMs: 0 });
        assert.equal(z.done, false);
        assert.equal(z.timedOut, true);
        assert.ok(Date.now() - t0 < 2000, 'timeoutMs 0 returns at once');
        fs.writeFileSync(hold, '');
        const e = await call(client, 'WaitForTask', { taskId: c.taskId, timeoutMs: 30000 });
        assert.equal(e.tasks[0].status, 'completed');
    });

    test('lifecycle events of released dependents: queued before running', async () => {
        const { client: watcher } = await connect(ctx, { name: 'event-watcher' });
        const events = [];
        watcher.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
            const d = n.params?.data;
            if (d && typeof d.event === 'string') {
                events.push(`${d.event} ${d.taskId}`);
            }
        });
        const go = path.join(ctx.dir, 'release-order.go');
        const root = await call(client, 'DelegateTask', { prompt: `root [wait-file=${go}]`, agent: 'claude' });
        const deps = [];
        for (let i = 0; i < 3; i++) {
            const d = await call(client, 'DelegateTask', {
                prompt: `released ${i}`,
                agent: 'claude',
                dependsOn: [root.taskId],
            });
            deps.push(d.taskId);
        }
        fs.writeFileSync(go, '');
        const w = await call(client, 'WaitForTask', { taskIds: deps, timeoutMs: 60000 });
        assert.equal(w.done, true);
        // WaitForTask answered after the completed events were sent on the same daemon loop;
        // one round trip on the watcher's connection flushes what it was sent before.
        await watcher.ping();
        for (const id of deps) {
            const q = events.indexOf(`task.queued ${id}`);
            const r = events.indexOf(`task.running ${id}`);
            assert.ok(q >= 0 && r >= 0, `both events for ${id}: ${events.join(', ')}`);
            assert.ok(q < r, `task.queued before task.running for ${id}: ${events.join(', ')}`);
        }
    });

    test('SystemStatus', async () => {
        const s = await call(client, 'SystemStatus', {});
        assert.equal(s.success, true);
        assert.match(s.daemon.version, /^\d+\.\d+\.\d+/);
        assert.ok(s.daemon.pid > 0 && alive(s.daemon.pid));
        assert.equal(s.daemon.home, ctx.home);
        assert.ok(s.daemon.uptimeMs >= 0);
        assert.equal(typeof s.pool.running, 'number');
        assert.ok(s.pool.capacity >= 1);
        for (const p of ['P0', 'P1', 'P2']) {
            assert.equal(typeof s.pool.queued[p], 'number');
        }
        for (const k of ['queued', 'blocked', 'running', 'completed', 'failed', 'cancelled']) {
            assert.equal(typeof s.tasks[k], 'number', `tasks.${k}`);
        }
        assert.ok(s.tasks.completed >= 1);
    });

    // Error results: isError, and structuredContent/text {"success":false,"error","code"}. The
    // SDK validates that structuredContent against the tool's outputSchema, so a schema that
    // does not admit the error shape makes callTool throw.
    async function expectToolError(name, args, code, re) {
        const before = (await call(client, 'TaskStatus', {})).total;
        const r = await client.callTool({ name, arguments: args });
        assert.equal(r.isError, true, `${name} ${JSON.stringify(args).slice(0, 100)}: isError`);
        assert.equal(r.structuredContent.success, false);
        assert.equal(r.structuredContent.code, code, r.structuredContent.error);
        assert.match(r.structuredContent.error, re);
        assert.ok(textMatchesStructured(r), 'text is the same JSON');
        const afterTotal = (await call(client, 'TaskStatus', {})).total;
        assert.equal(afterTotal, before, 'no task created');
    }

    // Runs every [name, args, code, re] case; fails once at the end listing every case that failed.
    async function expectToolErrors(cases) {
        const failures = [];
        for (const [name, args, code, re] of cases) {
            try {
                await expectToolError(name, args, code, re);
            } catch (e) {
                failures.push(`${name} ${JSON.stringify(args).slice(0, 80)}: ${e.message.split('\n')[0]}`);
            }
        }
        if (failures.length) {
            assert.fail(failures.join('\n'));
        }
    }

    test('errors: DelegateTask invalid priority -> INVALID_INPUT naming priority', async () => {
        await expectToolError('DelegateTask', { prompt: 'x', priority: 'P9', agent: 'claude' }, 'INVALID_INPUT', /^priority: /);
    });

    test('errors: DelegateTask other invalid arguments -> INVALID_INPUT naming the field', async () => {
        const many = Array.from({ length: 101 }, (_, i) => `task-00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
        await expectToolErrors([
            ['DelegateTask', { prompt: '', agent: 'claude' }, 'INVALID_INPUT', /^prompt: /],
            ['DelegateTask', { prompt: 'a'.repeat(100001), agent: 'claude' }, 'INVALID_INPUT', /^prompt: /],
            ['DelegateTask', { prompt: 'x', timeout: 5, agent: 'claude' }, 'INVALID_INPUT', /^timeout: /],
            ['DelegateTask', { prompt: 'x', maxOutputBuffer: 10, agent: 'claude' }, 'INVALID_INPUT', /^maxOutputBuffer: /],
            ['DelegateTask', { prompt: 'x', agent: 'nope' }, 'INVALID_INPUT', /^agent: /],
            ['DelegateTask', { prompt: 'x', agent: 'claude', bogus: 1 }, 'INVALID_INPUT', /bogus/],
            ['DelegateTask', { prompt: 'x', agent: 'claude', workingDirectory: '/no/such/dir' }, 'INVALID_INPUT', /^workingDirectory: /],
            ['DelegateTask', { prompt: 'x', agent: 'claude', dependsOn: [UNKNOWN] }, 'INVALID_INPUT', /^dependsOn: /],
            ['DelegateTask', { prompt: 'x', agent: 'claude', dependsOn: many }, 'INVALID_INPUT', /^dependsOn: /],
        ]);
    });

    test('errors: other tools with invalid arguments', async () => {
        await expectToolErrors([
            ['TaskLogs', { taskId: doneId, tail: 0 }, 'INVALID_INPUT', /^tail: /],
            ['TaskStatus', { limit: 0 }, 'INVALID_INPUT', /^limit: /],
            ['WaitForTask', { taskId: doneId, timeoutMs: 700000 }, 'INVALID_INPUT', /^timeoutMs: /],
            ['CancelTask', { taskId: 'nonsense' }, 'INVALID_INPUT', /^taskId: /],
        ]);
    });

    test('errors: unknown task -> NOT_FOUND', async () => {
        await expectToolErrors([
            ['TaskStatus', { taskId: UNKNOWN }, 'NOT_FOUND', /does not exist|not found/],
            ['CancelTask', { taskId: UNKNOWN }, 'NOT_FOUND', /does not exist|not found/],
        ]);
    });

    test('errors: unknown task for TaskLogs, RetryTask, WaitForTask -> NOT_FOUND', async () => {
        await expectToolErrors([
            ['TaskLogs', { taskId: UNKNOWN }, 'NOT_FOUND', /does not exist|not found/],
            ['RetryTask', { taskId: UNKNOWN }, 'NOT_FOUND', /does not exist|not found/],
            ['WaitForTask', { taskId: UNKNOWN, timeoutMs: 0 }, 'NOT_FOUND', /does not exist|not found/],
        ]);
    });

    test('errors: cancel of a completed task -> INVALID_STATE', async () => {
        await expectToolError('CancelTask', { taskId: doneId }, 'INVALID_STATE', /./);
    });

    test('errors: retry of a running task -> INVALID_STATE', async () => {
        const hold = path.join(ctx.dir, 'hold-retry');
        const d = await call(client, 'DelegateTask', { prompt: `running [wait-file=${hold}]`, agent: 'claude' });
        await call(client, 'WaitForTask', { taskId: d.taskId, until: 'running', timeoutMs: 30000 });
        try {
            await expectToolError('RetryTask', { taskId: d.taskId }, 'INVALID_STATE', /./);
        } finally {
            fs.writeFileSync(hold, '');
        }
    });

    test('errors on the wire (raw): isError with structuredContent and matching text', async () => {
        const raw = new RawConn(ctx);
        await raw.initialize(1);
        const r = await raw.request(2, 'tools/call', {
            name: 'DelegateTask',
            arguments: { prompt: 'x', priority: 'P9', agent: 'claude' },
        });
        assert.equal(r.result.isError, true);
        assert.deepEqual(Object.keys(r.result.structuredContent).sort(), ['code', 'error', 'success']);
        assert.equal(r.result.structuredContent.code, 'INVALID_INPUT');
        assert.match(r.result.structuredContent.error, /^priority: /);
        assert.ok(textMatchesStructured(r.result));
        raw.proc.stdin.end();
        await raw.waitExit();
    });
});
