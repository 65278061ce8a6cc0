// Shared helpers for the MCP end-to-end tests: a fresh state dir per test file, the SDK client
// over `beat mcp start`, a raw line-level JSON-RPC connection, and waits with deadlines.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export const BEAT_SRC = path.resolve(process.env.BEAT_SRC || path.join(here, '..', '..', '..'));
export const BEAT = process.env.BEAT
    ? path.resolve(process.env.BEAT)
    : path.join(BEAT_SRC, 'build', 'beat');
export const FAKE_DIR = path.join(BEAT_SRC, 'tests', 'fake-agents');

// A fresh environment: HOME, BACKBEAT_HOME, the fake agents first on PATH, a work dir (cwd).
export function makeEnv(name) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `beat-mcp-${name}-`));
    const work = path.join(dir, 'work');
    fs.mkdirSync(work);
    fs.mkdirSync(path.join(dir, 'tmp'));
    const env = { ...process.env };
    for (const k of ['BACKBEAT_DEFAULT_AGENT', 'MAX_WORKERS', 'PROCESS_KILL_GRACE_PERIOD_MS']) {
        delete env[k];
    }
    Object.assign(env, {
        HOME: dir,
        BACKBEAT_HOME: path.join(dir, 'home'),
        TMPDIR: path.join(dir, 'tmp'),
        PATH: `${FAKE_DIR}:${process.env.PATH}`,
        FAKE_AGENT_LOG: path.join(dir, 'fake-agent.log'),
        PROCESS_KILL_GRACE_PERIOD_MS: '1000',
        // Only the worker count limits the pool: tests run beside others on small machines.
        CPU_THRESHOLD: '100',
        MEMORY_RESERVE: '0',
    });
    const ctx = {
        dir,
        work,
        env,
        home: env.BACKBEAT_HOME,
        clients: [],
        children: [],
        // Runs the beat CLI synchronously in this environment (killed after 30 s).
        beat(...args) {
            return ctx.beatT(30000, ...args);
        },
        // Same with a time limit in ms; status is null when it had to be killed.
        beatT(timeout, ...args) {
            return spawnSync(BEAT, args, { env, cwd: work, encoding: 'utf8', timeout });
        },
        async cleanup() {
            for (const c of ctx.clients) {
                await c.close().catch(() => {});
            }
            // Relays first: a connected relay would start a new daemon after the stop.
            for (const ch of ctx.children) {
                if (ch.exitCode === null && ch.signalCode === null) {
                    const gone = new Promise((r) => ch.once('exit', r));
                    ch.kill('SIGKILL');
                    await gone;
                }
            }
            ctx.beat('daemon', 'stop', '--kill-tasks');
            killFakeAgents(env.FAKE_AGENT_LOG);
            if (!process.env.E2E_KEEP) {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        },
    };
    return ctx;
}

// Ends the fake agents (and their children) a test started that are still alive.
function killFakeAgents(log) {
    for (const rec of fakeLog(log)) {
        for (const pid of [rec.pid, rec.child_pid]) {
            if (pid && alive(pid)) {
                try {
                    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
                    if (cmd.includes('fake-agents') || cmd.includes('sleep')) {
                        process.kill(pid, 'SIGKILL');
                    }
                } catch {
                    // gone meanwhile
                }
            }
        }
    }
}

// The fake agents' log records (one object per run).
export function fakeLog(file) {
    let text = '';
    try {
        text = fs.readFileSync(file, 'utf8');
    } catch {
        return [];
    }
    return text
        .split('\n')
        .filter(Boolean)
        .flatMap((l) => {
            try {
                return [JSON.parse(l)];
            } catch {
                return [];
            }
        });
}

// The process exists and is not a zombie.
export function alive(pid) {
    try {
        process.kill(pid, 0);
    } catch {
        return false;
    }
    try {
        const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
        return state !== 'Z' && state !== 'X';
    } catch {
        return false;
    }
}

// Polls fn (sync or async) every 50 ms until it returns a truthy value or the deadline passes.
export async function waitFor(fn, { timeout = 10000, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const v = await fn();
        if (v) {
            return v;
        }
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
}

// Waits until the fake agent whose prompt holds marker has started; returns its log record.
export function waitForAgent(ctx, marker, timeout = 20000) {
    return waitFor(
        () => fakeLog(ctx.env.FAKE_AGENT_LOG).find((r) => (r.prompt || '').includes(marker)),
        { timeout, what: `the agent of "${marker}" to start` },
    );
}

// An SDK client connected through `beat mcp start`; tools listed (so outputs are validated).
export async function connect(ctx, { list = true, name = 'backbeat-e2e' } = {}) {
    const transport = new StdioClientTransport({
        command: BEAT,
        args: ['mcp', 'start'],
        env: ctx.env,
        cwd: ctx.work,
        stderr: 'pipe',
    });
    const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
    let stderr = '';
    transport.stderr?.on('data', (d) => {
        stderr += d;
    });
    await client.connect(transport);
    ctx.clients.push(client);
    if (list) {
        await client.listTools();
    }
    client.stderrText = () => stderr;
    return { client, transport };
}

// Calls a tool and returns its structuredContent; throws with the text when isError.
export async function call(client, name, args = {}, options = {}) {
    const r = await client.callTool({ name, arguments: args }, undefined, options);
    if (r.isError) {
        throw new Error(`${name} failed: ${r.content?.[0]?.text}`);
    }
    return r.structuredContent;
}

// A raw JSON-RPC line connection to `beat mcp start`: write lines, read replies.
export class RawConn {
    constructor(ctx) {
        this.proc = spawn(BEAT, ['mcp', 'start'], {
            env: ctx.env,
            cwd: ctx.work,
            stdio: ['pipe', 'pipe', 'pipe'],
        });
        ctx.children.push(this.proc);
        this.lines = []; // raw text of every line received, in order
        this.waiters = [];
        this.stderr = '';
        this.exited = new Promise((resolve) => {
            this.proc.on('exit', (code, signal) => resolve({ code, signal }));
        });
        this.proc.stdin.on('error', () => {}); // a closed pipe is reported by the tests
        let buf = '';
        this.proc.stdout.setEncoding('utf8');
        this.proc.stdout.on('data', (d) => {
            buf += d;
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                this.lines.push(line);
                this.wake();
            }
        });
        this.proc.stderr.setEncoding('utf8');
        this.proc.stderr.on('data', (d) => {
            this.stderr += d;
        });
    }

    wake() {
        for (const w of [...this.waiters]) {
            w();
        }
    }

    // Writes one line (an object is JSON-encoded; a string is written as is).
    send(msg) {
        const line = typeof msg === 'string' ? msg : JSON.stringify(msg);
        return new Promise((resolve, reject) => {
            this.proc.stdin.write(line + '\n', (err) => (err ? reject(err) : resolve()));
        });
    }

    // The first line received from index `from` on that satisfies pred(parsed, raw).
    next(pred, { timeout = 10000, from = 0, what = 'a reply' } = {}) {
        return new Promise((resolve, reject) => {
            let timer;
            const check = () => {
                for (let i = from; i < this.lines.length; i++) {
                    let obj = null;
                    try {
                        obj = JSON.parse(this.lines[i]);
                    } catch {
                        // not JSON: pred sees null
                    }
                    if (pred(obj, this.lines[i])) {
                        clearTimeout(timer);
                        this.waiters = this.waiters.filter((w) => w !== check);
                        resolve({ msg: obj, raw: this.lines[i], index: i });
                        return true;
                    }
                }
                return false;
            };
            if (check()) {
                return;
            }
            timer = setTimeout(() => {
                this.waiters = this.waiters.filter((w) => w !== check);
                reject(
                    new Error(
                        `timed out waiting for ${what}; got lines: ${this.lines
                            .map((l) => l.slice(0, 200))
                            .join(' | ')}; stderr: ${this.stderr.slice(0, 500)}`,
                    ),
                );
            }, timeout);
            this.waiters.push(check);
        });
    }

    // Sends a request and waits for the reply with the same id.
    async request(id, method, params, opts) {
        await this.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
        return (await this.next((m) => m && m.id === id && ('result' in m || 'error' in m), opts))
            .msg;
    }

    async initialize(id = 0, protocolVersion = '2025-11-25') {
        const r = await this.request(id, 'initialize', {
            protocolVersion,
            capabilities: {},
            clientInfo: { name: 'raw-e2e', version: '1.0.0' },
        });
        await this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        return r;
    }

    // Resolves with {code, signal} when the process exits, or null after `timeout` ms.
    waitExit(timeout = 10000) {
        let timer;
        return Promise.race([
            this.exited,
            new Promise((r) => {
                timer = setTimeout(() => r(null), timeout);
            }),
        ]).finally(() => clearTimeout(timer));
    }
}

// The tool result's JSON text must equal its structuredContent.
export function textMatchesStructured(result) {
    const text = result.content?.find((c) => c.type === 'text')?.text;
    return text !== undefined && JSON.stringify(JSON.parse(text)) === JSON.stringify(result.structuredContent);
}
