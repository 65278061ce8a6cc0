// The MCP Inspector's CLI mode (the pinned local copy) against `beat mcp start`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { BEAT, makeEnv } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function inspector(ctx, ...args) {
    const envArgs = ['BACKBEAT_HOME', 'HOME', 'PATH', 'FAKE_AGENT_LOG', 'TMPDIR'].flatMap((k) => [
        '-e',
        `${k}=${ctx.env[k]}`,
    ]);
    const r = spawnSync(
        'npx',
        ['--no-install', '@modelcontextprotocol/inspector', '--cli', ...envArgs, BEAT, 'mcp', 'start', ...args],
        { cwd: here, env: { ...ctx.env, npm_config_update_notifier: 'false' }, encoding: 'utf8', timeout: 60000 },
    );
    assert.equal(r.status, 0, `inspector ${args.join(' ')}: exit ${r.status}\n${r.stderr}\n${r.stdout}`);
    return JSON.parse(r.stdout);
}

describe('MCP Inspector CLI', () => {
    let ctx;
    before(() => {
        ctx = makeEnv('inspector');
    });
    after(async () => {
        await ctx.cleanup();
    });

    test('tools/list', () => {
        const out = inspector(ctx, '--method', 'tools/list');
        const names = out.tools.map((t) => t.name);
        for (const n of ['DelegateTask', 'TaskStatus', 'TaskLogs', 'CancelTask', 'RetryTask', 'WaitForTask', 'SystemStatus']) {
            assert.ok(names.includes(n), `${n} listed`);
        }
    });

    test('tools/call SystemStatus', () => {
        const out = inspector(ctx, '--method', 'tools/call', '--tool-name', 'SystemStatus');
        assert.notEqual(out.isError, true);
        assert.equal(out.structuredContent.success, true);
        assert.equal(out.structuredContent.daemon.home, ctx.home);
        assert.deepEqual(JSON.parse(out.content[0].text), out.structuredContent);
    });

    test('tools/call DelegateTask with arguments', () => {
        const out = inspector(
            ctx,
            '--method', 'tools/call',
            '--tool-name', 'DelegateTask',
            '--tool-arg', 'prompt=from the inspector',
            '--tool-arg', 'agent=claude',
            '--tool-arg', 'priority=P1',
        );
        assert.equal(out.structuredContent.success, true);
        assert.match(out.structuredContent.taskId, /^task-/);
        assert.equal(out.structuredContent.priority, 'P1');
        const r = ctx.beat('wait', out.structuredContent.taskId, '--timeout', '30000', '--json');
        assert.equal(r.status, 0, r.stderr);
        assert.equal(JSON.parse(r.stdout).tasks[0].status, 'completed');
    });
});
