// Streams: long-lived and large exchanges - server-sent events, a WebSocket
// echo, large downloads and uploads. Each watches RequestAborted, as real apps
// should, and records in AppEvents when a client went away.

using System.Buffers;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace RealApp;

public static class Streams
{
    // 251 * 261 bytes: whole copies of the pattern (byte i = i % 251), so
    // consecutive writes line up.
    private static readonly byte[] Pattern = Enumerable.Range(0, 251 * 261).Select(i => (byte)(i % 251)).ToArray();

    public static WebApplication MapStreams(this WebApplication app)
    {
        app.MapGet("/sse", ServerSentEvents);
        app.Map("/ws", WebSocketEcho);
        app.MapGet("/download", Download);
        app.MapPost("/upload", Upload);
        return app;
    }

    // GET /sse?count=N&intervalMs=M: N events, each flushed, M ms apart.
    private static async Task ServerSentEvents(HttpContext context, AppEvents events, int count = 5, int intervalMs = 100)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        try
        {
            for (var i = 0; i < count; i++)
            {
                await context.Response.WriteAsync($"id: {i}\ndata: event {i} pid {Environment.ProcessId}\n\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                if (i + 1 < count)
                {
                    await Task.Delay(intervalMs, context.RequestAborted);
                }
            }
        }
        catch (OperationCanceledException)
        {
            events.Write("aborted", "/sse");
        }
    }

    // /ws: echoes every message (text or binary, fragments kept). The text
    // message "close-please" makes the server start the close handshake.
    private static async Task WebSocketEcho(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[64 * 1024];
        var aborted = context.RequestAborted;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, aborted);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", aborted);
                return;
            }
            if (result.MessageType == WebSocketMessageType.Text && result.EndOfMessage &&
                Encoding.UTF8.GetString(buffer, 0, result.Count) == "close-please")
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "server closing", aborted);
                return;
            }
            await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, aborted);
        }
    }

    // GET /download?bytes=N: N bytes of the pattern, with Content-Length.
    private static async Task Download(HttpContext context, AppEvents events, long bytes = 1024)
    {
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = bytes;
        try
        {
            long sent = 0;
            while (sent < bytes)
            {
                var n = (int)Math.Min(Pattern.Length, bytes - sent);
                await context.Response.Body.WriteAsync(Pattern.AsMemory(0, n), context.RequestAborted);
                sent += n;
            }
        }
        catch (OperationCanceledException)
        {
            events.Write("aborted", "/download");
        }
    }

    // POST /upload: reads the body as it streams in; answers its length and SHA-256.
    private static async Task<IResult> Upload(HttpContext context, AppEvents events)
    {
        // Behind Apache the body size is Apache's business (LimitRequestBody).
        var sizeLimit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeLimit is { IsReadOnly: false })
        {
            sizeLimit.MaxRequestBodySize = null;
        }
        events.Write("begun", "/upload");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        long total = 0;
        try
        {
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                sha.AppendData(buffer, 0, n);
                total += n;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or BadHttpRequestException)
        {
            events.Write("aborted", "/upload");
            return Results.Empty;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        events.Write("completed", "/upload");
        return Results.Json(new { bytes = total, sha256 = Convert.ToHexStringLower(sha.GetHashAndReset()) });
    }
}
