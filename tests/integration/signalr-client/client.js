// Drives RealApp's SignalR hub (/hubs/echo) with the real client, @microsoft/signalr, for
// tests/integration/test_sticky.py. Prints one JSON object on stdout.
//
//   node client.js URL TRANSPORT CONNECTIONS INVOCATIONS
//     URL          the hub, e.g. http://127.0.0.1:8080/hubs/echo
//     TRANSPORT    websockets | sse | longpolling (that transport only: no fallback)
//     CONNECTIONS  hub connections, started one after the other and kept open together
//     INVOCATIONS  Echo calls on each connection once all are started
//
// Cookies: in node, the client's own HTTP client (FetchHttpClient) wraps fetch with
// fetch-cookie and a tough-cookie jar, one jar per HubConnection, and hands that jar's
// cookies to the WebSocket ('ws') and EventSource ('eventsource') requests it makes, as
// a browser would. So the sticky-session cookie the negotiate answer sets goes with the
// connect, the polls and the sends of that connection, and only of that one.
"use strict";

const signalR = require("@microsoft/signalr");

const TRANSPORTS = {
    websockets: signalR.HttpTransportType.WebSockets,
    sse: signalR.HttpTransportType.ServerSentEvents,
    longpolling: signalR.HttpTransportType.LongPolling,
};
const STEP_TIMEOUT_MS = 20000;

function withTimeout(promise, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(what + ": no answer within " +
                                                  STEP_TIMEOUT_MS + " ms")), STEP_TIMEOUT_MS);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function message(e) {
    return (e && (e.message || String(e))) || "unknown error";
}

async function main() {
    const [url, transportName, connArg, invArg] = process.argv.slice(2);
    const transport = TRANSPORTS[transportName];
    const connections = parseInt(connArg, 10), invocations = parseInt(invArg, 10);
    if (!url || transport === undefined || !(connections > 0) || !(invocations >= 0)) {
        console.error("usage: node client.js URL websockets|sse|longpolling CONNECTIONS INVOCATIONS");
        process.exit(2);
    }
    const results = [];
    const hubs = [];
    for (let i = 0; i < connections; i++) {
        const res = { index: i, started: false, error: null, closed: null, echoes: [], pid: null };
        const hub = new signalR.HubConnectionBuilder()
            .withUrl(url, { transport: transport })
            .configureLogging(signalR.LogLevel.None)
            .build();
        hub.onclose((e) => { res.closed = e ? message(e) : "closed"; });
        try {
            await withTimeout(hub.start(), "start");
            res.started = true;
            res.pid = await withTimeout(hub.invoke("Pid"), "Pid()");
        } catch (e) {
            res.error = message(e);
        }
        results.push(res);
        hubs.push(hub);
    }
    for (let n = 0; n < invocations; n++) {
        for (let i = 0; i < connections; i++) {
            const res = results[i];
            if (!res.started || res.error) {
                continue;
            }
            try {
                const text = "m" + n;
                const got = await withTimeout(hubs[i].invoke("Echo", text), "Echo()");
                const m = /^pid=(\d+) conn=(\S+) (.*)$/.exec(got);
                if (!m || m[3] !== text) {
                    throw new Error("unexpected answer to Echo(" + text + "): " + got);
                }
                res.echoes.push({ pid: parseInt(m[1], 10), conn: m[2] });
            } catch (e) {
                res.error = message(e);
            }
        }
    }
    for (let i = 0; i < connections; i++) {
        try {
            await withTimeout(hubs[i].stop(), "stop");
        } catch (e) {
            results[i].stopError = message(e);
        }
    }
    process.stdout.write(JSON.stringify({ transport: transportName, connections: results }) + "\n");
}

main().then(() => process.exit(0), (e) => {
    console.error("client.js: " + message(e));
    process.exit(1);
});
