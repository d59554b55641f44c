// HelloApp - a minimal ASP.NET Core app to run behind Apache httpd with
// mod_aspnetcore (the Apache counterpart of the ASP.NET Core Module for IIS).
//
// Nothing Apache-specific is needed in the app: WebApplication.CreateBuilder
// turns on IIS integration (UseIISIntegration) by default. When the app is
// started by mod_aspnetcore it finds ASPNETCORE_PORT, ASPNETCORE_APPL_PATH and
// ASPNETCORE_TOKEN in its environment and then
//   * listens on http://127.0.0.1:<ASPNETCORE_PORT> only,
//   * answers 400 to requests without the right MS-ASPNETCORE-TOKEN header,
//   * uses ASPNETCORE_APPL_PATH (e.g. /shop) as the request PathBase,
//   * takes the client address and scheme from X-Forwarded-For/-Proto,
//   * stops gracefully when Apache posts the "shutdown" event.
// Run on its own (without those variables) it is an ordinary Kestrel app.

using System.Net;
using System.Runtime.InteropServices;
using HelloApp;

var builder = WebApplication.CreateBuilder(args);

// Remember the request headers exactly as they arrived, for /echo (see
// TestEndpoints.cs). Not needed by a normal app.
builder.Services.AddRequestHeaderSnapshot();

var app = builder.Build();

// The home page: a friendly proof that Apache -> mod_aspnetcore -> Kestrel works.
app.MapMethods("/", TestEndpoints.GetAndHead, (HttpContext context) =>
{
    var request = context.Request;
    var connection = context.Connection;

    // With IIS integration active these already reflect the original client:
    // RemoteIpAddress comes from X-Forwarded-For, Scheme from X-Forwarded-Proto.
    var rows = new (string Name, string? Value)[]
    {
        ("PathBase", request.PathBase.HasValue ? request.PathBase.Value : "(none)"),
        ("Path", request.Path.Value),
        ("Scheme", request.Scheme),
        ("Host", request.Host.Value),
        ("Client IP", connection.RemoteIpAddress?.ToString()),
        ("Process id", Environment.ProcessId.ToString()),
        ("Framework", RuntimeInformation.FrameworkDescription),
        ("OS", RuntimeInformation.OSDescription),
    };

    var html = new System.Text.StringBuilder();
    html.Append("""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Hello from ASP.NET Core behind Apache</title>
        <style>
          body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 42rem; color: #222; }
          h1 { font-size: 1.6rem; }
          table { border-collapse: collapse; }
          th, td { text-align: left; padding: .3rem 1rem .3rem 0; border-bottom: 1px solid #ddd; }
          th { font-weight: 600; }
          code { background: #f3f3f3; padding: 0 .2rem; }
        </style>
        </head>
        <body>
        <h1>Hello from ASP.NET Core behind Apache</h1>
        <p>This page was produced by <code>HelloApp</code>, started and proxied by
        Apache httpd's <code>mod_aspnetcore</code>.</p>
        <table>
        """);
    foreach (var (name, value) in rows)
    {
        html.Append("<tr><th>").Append(WebUtility.HtmlEncode(name))
            .Append("</th><td>").Append(WebUtility.HtmlEncode(value ?? "")).Append("</td></tr>\n");
    }
    var echo = WebUtility.HtmlEncode(request.PathBase.Add("/echo").Value);
    html.Append($"""
        </table>
        <p>See <a href="{echo}">{echo}</a> for everything the app received.</p>
        </body>
        </html>
        """);

    return Results.Content(html.ToString(), "text/html; charset=utf-8");
});

// /echo, /env, /pid, /sleep, /stream, /status/NNN, /bytes, /cookies, /crash:
// diagnostic endpoints used by mod_aspnetcore's integration tests.
app.MapTestEndpoints();

// A WebSocket echo at /ws, for the tests of Apache's WebSocket tunnel (opt-in
// like the other test endpoints).
if (app.Configuration.GetValue("HelloApp:TestEndpoints", false))
{
    app.UseWebSockets();
    app.Map("/ws", async (HttpContext context) =>
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (result.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
            {
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure,
                                        "bye", context.RequestAborted);
                break;
            }
            await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType,
                                   result.EndOfMessage, context.RequestAborted);
        }
    });
}

app.Run();
