// h2ws_client.js: WebSockets over HTTP/2 (RFC 8441) for the integration tests, with
// node's built-in http2 module only (no npm packages).
//
//   node h2ws_client.js SPEC_JSON
//
// SPEC: {"url": "https://127.0.0.1:PORT" | "http://127.0.0.1:PORT" (h2c, prior knowledge),
//        "ca": "/path/ca.pem" (https), "timeout_ms": 30000,
//        "streams": [{"path": "/ws", "headers": {...extra request headers},
//                     "steps": [STEP, ...]}, ...]}
// The streams run at once on ONE HTTP/2 connection, each opened with an extended CONNECT
// (:method CONNECT, :protocol websocket) once the server's SETTINGS allowed it; each then
// runs its steps in order (WebSocket framing done here; client frames masked):
//   {"op": "echo", "type": "text"|"binary", "data": "...", "repeat": N}  send data (N times
//                              over), expect the same back
//   {"op": "echo", "type": "binary", "random": N, "fragment": F}  N random bytes in frames of F
//   {"op": "ping", "data": "..."}                                 expect a pong with it
//   {"op": "send_text", "data": "..."}                            send, expect nothing
//   {"op": "expect_close"}     wait for the server's close frame, answer it, wait for the
//                              stream's end (a server-initiated close)
//   {"op": "close", "code": 1000}   send a close frame, wait for the answer and the end
//   {"op": "get", "path": "/x"}     a plain GET on the same connection meanwhile
//   {"op": "reset"}                 RST_STREAM (CANCEL) this stream
//   {"op": "pause", "ms": 300}      let time pass (a traffic pattern)
//   {"op": "wait_end"}              wait until the server ends the stream (ms: how long)
//   {"op": "wait_stdin", "tag": "x"}  print {"event": "waiting", "tag": x}, read a line
// Prints one JSON line per event and, last, {"done": true, "settings": {...},
// "streams": [{"status": 200, "headers": {...}, "results": [...], "error": null}]}.
'use strict';

const http2 = require('http2');
const fs = require('fs');
const crypto = require('crypto');
const readline = require('readline');

const spec = JSON.parse(process.argv[2]);
const timeoutMs = spec.timeout_ms || 30000;
const started = Date.now();

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

let stdinLines = [];
let stdinWaiters = [];
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
    if (stdinWaiters.length) stdinWaiters.shift()(line);
    else stdinLines.push(line);
});
function nextStdinLine() {
    if (stdinLines.length) return Promise.resolve(stdinLines.shift());
    return new Promise((resolve) => stdinWaiters.push(resolve));
}

function withTimeout(promise, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out: ' + what)), timeoutMs);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---- WebSocket framing (RFC 6455) ----------------------------------------------------

function frame(opcode, payload, fin) {
    const n = payload.length;
    let head;
    if (n < 126) {
        head = Buffer.alloc(2);
        head[1] = 0x80 | n;
    } else if (n < 65536) {
        head = Buffer.alloc(4);
        head[1] = 0x80 | 126;
        head.writeUInt16BE(n, 2);
    } else {
        head = Buffer.alloc(10);
        head[1] = 0x80 | 127;
        head.writeBigUInt64BE(BigInt(n), 2);
    }
    head[0] = (fin === false ? 0 : 0x80) | opcode;
    const key = crypto.randomBytes(4);
    const masked = Buffer.alloc(n);
    for (let i = 0; i < n; i++) masked[i] = payload[i] ^ key[i & 3];
    return Buffer.concat([head, key, masked]);
}

class Ws {
    constructor(stream) {
        this.stream = stream;
        this.buf = Buffer.alloc(0);
        this.frames = [];          // {fin, opcode, payload} from the server
        this.waiters = [];
        this.ended = false;        // the server ended the stream
        this.closed = false;       // the stream is closed (any reason)
        this.rstCode = null;
        stream.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
        stream.on('end', () => { this.ended = true; this.wake(); });
        stream.on('close', () => { this.closed = true; this.rstCode = stream.rstCode; this.wake(); });
        stream.on('error', () => { this.closed = true; this.wake(); });
    }

    wake() {
        const w = this.waiters;
        this.waiters = [];
        w.forEach((f) => f());
    }

    changed() {
        return new Promise((resolve) => this.waiters.push(resolve));
    }

    parse() {
        for (;;) {
            const b = this.buf;
            if (b.length < 2) break;
            let n = b[1] & 0x7f, off = 2;
            if (b[1] & 0x80) throw new Error('the server masked a frame');
            if (n === 126) {
                if (b.length < 4) break;
                n = b.readUInt16BE(2);
                off = 4;
            } else if (n === 127) {
                if (b.length < 10) break;
                n = Number(b.readBigUInt64BE(2));
                off = 10;
            }
            if (b.length < off + n) break;
            this.frames.push({ fin: !!(b[0] & 0x80), opcode: b[0] & 0x0f,
                               payload: b.subarray(off, off + n) });
            this.buf = b.subarray(off + n);
        }
        this.wake();
    }

    async nextFrame(what) {
        while (!this.frames.length) {
            if (this.ended || this.closed) throw new Error('stream ended waiting for ' + what);
            await withTimeout(this.changed(), what);
        }
        return this.frames.shift();
    }

    // A whole message (data frames reassembled); control frames come alone.
    async nextMessage(what) {
        let f = await this.nextFrame(what);
        if (f.opcode >= 0x8) return { opcode: f.opcode, payload: f.payload, frames: 1 };
        const parts = [f.payload];
        const opcode = f.opcode;
        let frames = 1;
        while (!f.fin) {
            f = await this.nextFrame(what);
            if (f.opcode !== 0) throw new Error('unexpected opcode ' + f.opcode + ' in a message');
            parts.push(f.payload);
            frames++;
        }
        return { opcode, payload: Buffer.concat(parts), frames };
    }

    send(buf) {
        return new Promise((resolve, reject) => {
            this.stream.write(buf, (err) => (err ? reject(err) : resolve()));
        });
    }

    async sendMessage(opcode, payload, fragment) {
        if (!fragment || payload.length <= fragment) {
            return this.send(frame(opcode, payload, true));
        }
        for (let i = 0; i < payload.length; i += fragment) {
            const last = i + fragment >= payload.length;
            await this.send(frame(i === 0 ? opcode : 0, payload.subarray(i, i + fragment), last));
        }
    }

    async waitEnd(what) {
        while (!this.ended && !this.closed) {
            await withTimeout(this.changed(), what);
        }
        return this.ended;
    }
}

// ---- the steps ------------------------------------------------------------------------

function sha(b) {
    return crypto.createHash('sha256').update(b).digest('hex');
}

async function plainGet(session, path) {
    const req = session.request({ ':method': 'GET', ':path': path });
    req.end();
    const headers = await withTimeout(new Promise((resolve, reject) => {
        req.on('response', resolve);
        req.on('error', reject);
    }), 'GET ' + path);
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    await withTimeout(new Promise((resolve, reject) => {
        req.on('end', resolve);
        req.on('error', reject);
    }), 'GET body ' + path);
    const body = Buffer.concat(chunks);
    return { status: headers[':status'], body_len: body.length,
             body: body.subarray(0, 4096).toString('utf8') };
}

async function runStep(session, ws, step) {
    switch (step.op) {
    case 'echo': {
        const opcode = step.type === 'binary' ? 2 : 1;
        const payload = step.random !== undefined ? crypto.randomBytes(step.random)
                                                  : Buffer.from((step.data || '').repeat(step.repeat || 1), 'utf8');
        const t0 = Date.now();
        await ws.sendMessage(opcode, payload, step.fragment);
        const m = await ws.nextMessage('echo');
        return { op: 'echo', ok: m.opcode === opcode && m.payload.equals(payload),
                 sent: payload.length, got: m.payload.length, opcode: m.opcode,
                 frames: m.frames, sha_ok: sha(m.payload) === sha(payload), ms: Date.now() - t0 };
    }
    case 'ping': {
        const payload = Buffer.from(step.data || '', 'utf8');
        await ws.send(frame(0x9, payload, true));
        const m = await ws.nextMessage('pong');
        return { op: 'ping', ok: m.opcode === 0xa && m.payload.equals(payload), opcode: m.opcode };
    }
    case 'send_text':
        await ws.sendMessage(1, Buffer.from(step.data, 'utf8'));
        return { op: 'send_text', ok: true };
    case 'expect_close': {
        const m = await ws.nextMessage('a close frame');
        const code = m.payload.length >= 2 ? m.payload.readUInt16BE(0) : null;
        const reason = m.payload.subarray(2).toString('utf8');
        if (m.opcode === 0x8) await ws.send(frame(0x8, m.payload.subarray(0, 2), true));
        const ended = await ws.waitEnd('the end of the stream after a server close');
        return { op: 'expect_close', ok: m.opcode === 0x8, code, reason, ended };
    }
    case 'close': {
        const code = Buffer.alloc(2);
        code.writeUInt16BE(step.code || 1000, 0);
        await ws.send(frame(0x8, code, true));
        const m = await ws.nextMessage('the close answer');
        const got = m.payload.length >= 2 ? m.payload.readUInt16BE(0) : null;
        const ended = await ws.waitEnd('the end of the stream after a client close');
        return { op: 'close', ok: m.opcode === 0x8, code: got,
                 reason: m.payload.subarray(2).toString('utf8'), ended };
    }
    case 'get':
        return Object.assign({ op: 'get' }, await plainGet(session, step.path));
    case 'pause':
        await new Promise((resolve) => setTimeout(resolve, step.ms));
        return { op: 'pause', ok: true };
    case 'wait_end': {
        const t0 = Date.now();
        const ended = await ws.waitEnd('the server to end the stream');
        return { op: 'wait_end', ok: ended, ms: Date.now() - t0 };
    }
    case 'reset':
        ws.stream.close(http2.constants.NGHTTP2_CANCEL);
        return { op: 'reset', ok: true };
    case 'wait_stdin': {
        emit({ event: 'waiting', tag: step.tag || '' });
        const line = await nextStdinLine();
        return { op: 'wait_stdin', ok: true, line };
    }
    default:
        throw new Error('unknown step ' + JSON.stringify(step));
    }
}

async function runStream(session, s, index) {
    const out = { index, status: null, headers: null, results: [], error: null,
                  rst_code: null };
    const url = new URL(spec.url);
    const stream = session.request(Object.assign({
        ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': url.protocol.slice(0, -1),
        ':path': s.path || '/ws', ':authority': url.host,
        'sec-websocket-version': '13', 'origin': spec.url,
    }, s.headers || {}), { endStream: false });
    const ws = new Ws(stream);
    try {
        const headers = await withTimeout(new Promise((resolve, reject) => {
            stream.on('response', resolve);
            stream.on('error', reject);
            stream.on('close', () => reject(new Error('stream closed before a response (rst '
                                                       + stream.rstCode + ')')));
        }), 'the response to CONNECT');
        out.status = headers[':status'];
        out.headers = headers;
        emit({ event: 'open', index, status: out.status });
        if (out.status !== 200) {
            const chunks = [];
            stream.on('data', (d) => chunks.push(d));
            await ws.waitEnd('the refusal body').catch(() => {});
            out.body = Buffer.concat(chunks).toString('utf8').slice(0, 300);
            return out;
        }
        for (const step of s.steps || []) {
            const r = await runStep(session, ws, step);
            out.results.push(r);
            emit({ event: 'step', index, result: r });
        }
    } catch (e) {
        out.error = String(e && e.message || e);
    }
    out.rst_code = ws.rstCode;
    if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    return out;
}

async function main() {
    const opts = {};
    if (spec.ca) opts.ca = fs.readFileSync(spec.ca);
    const session = http2.connect(spec.url, opts);
    session.on('error', (e) => emit({ event: 'session_error', error: String(e.message) }));
    const settings = await withTimeout(new Promise((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
    }), "the server's SETTINGS");
    const result = { done: true, settings, alpn: session.alpnProtocol || null, streams: [] };
    if (!settings.enableConnectProtocol) {
        result.error = 'the server does not allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)';
    } else {
        result.streams = await Promise.all((spec.streams || []).map((s, i) => runStream(session, s, i)));
    }
    result.ms = Date.now() - started;
    session.close();
    emit(result);
    rl.close();
    setTimeout(() => process.exit(0), 200).unref();
}

main().catch((e) => {
    emit({ done: true, error: String(e && e.stack || e) });
    process.exit(1);
});
