// Diagnostic endpoints used by mod_aspnetcore's integration tests. The Python
// stand-in backend (tests/backends/standin.py) serves exactly the same ones, so
// a test can run against both.
//
//   ANY  /echo[/...]                JSON description of the request (below)
//   GET  /env                       JSON object of the process environment
//   GET  /pid                       the process id
//   GET  /sleep?ms=N                waits N ms, then "slept N"
//   GET  /stream?n=N&interval_ms=M  chunked: "event 0\n" .. "event N-1\n", each flushed
//   GET  /status/NNN                status NNN (200-599) with a short body
//   GET  /bytes?n=N                 N bytes, byte i = i % 251
//   GET  /cookies                   two Set-Cookie headers
//   GET  /crash                     the process exits at once with code 3
//   POST /discard                   reads the body, throws it away, answers its length
//                                   (for bench/run.sh; the stand-in does not serve it)
//   GET  /version                   JSON {"version": the assembly's informational version
//                                   (set at build time: -p:InformationalVersion=...),
//                                   "pid": the process id, "deploy_tag": $HELLOAPP_DEPLOY_TAG
//                                   or null} (for the deploy tests; not in the stand-in)
// (GET endpoints also answer HEAD.)
//
// They reveal the environment and let anyone stop the app, so they are off
// unless the setting HelloApp:TestEndpoints is true (the integration tests set
// the environment variable HelloApp__TestEndpoints=true).

using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace HelloApp;

public static class TestEndpoints
{
    public static readonly string[] GetAndHead = ["GET", "HEAD"];

    private const string Backend = "aspnetcore";
    private static readonly object HeaderSnapshotKey = new();
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = null,                            // names exactly as written
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,  // "+" rather than "\u002B"
    };

    // 251 * 261 bytes: whole copies of the pattern, so consecutive writes line up.
    private static readonly byte[] Pattern = Enumerable.Range(0, 251 * 261).Select(i => (byte)(i % 251)).ToArray();

    /// <summary>
    /// IIS integration's forwarded-headers middleware consumes X-Forwarded-For and
    /// X-Forwarded-Proto (and adds X-Original-*). /echo reports the headers as
    /// they arrived from Apache, so take a copy before that middleware runs: our
    /// startup filter is registered first, which makes its middleware the outermost.
    /// </summary>
    public static IServiceCollection AddRequestHeaderSnapshot(this IServiceCollection services)
    {
        services.Insert(0, ServiceDescriptor.Singleton<IStartupFilter, HeaderSnapshotFilter>());
        return services;
    }

    private sealed class HeaderSnapshotFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((HttpContext context, RequestDelegate nextMiddleware) =>
            {
                // PathBase has not been split off yet: look anywhere in the path.
                if (context.Request.Path.Value?.Contains("/echo", StringComparison.OrdinalIgnoreCase) == true)
                {
                    context.Items[HeaderSnapshotKey] = SnapshotHeaders(context.Request.Headers);
                }
                return nextMiddleware(context);
            });
            next(app);
        };
    }

    // Kestrel groups headers by name (known headers first); repeated headers keep
    // every value, in order, as separate [name, value] pairs.
    private static List<string[]> SnapshotHeaders(IHeaderDictionary headers)
    {
        var list = new List<string[]>();
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                list.Add([name, value ?? ""]);
            }
        }
        return list;
    }

    public static WebApplication MapTestEndpoints(this WebApplication app)
    {
        if (!app.Configuration.GetValue("HelloApp:TestEndpoints", false))
        {
            return app;
        }

        app.Map("/echo/{**rest}", Echo);   // any method; the catch-all also matches /echo
        app.MapMethods("/env", GetAndHead, Env);
        app.MapMethods("/pid", GetAndHead, (HttpContext c) => WriteText(c, 200, Environment.ProcessId.ToString()));
        app.MapMethods("/sleep", GetAndHead, Sleep);
        app.MapMethods("/stream", GetAndHead, Stream);
        app.MapMethods("/status/{code:int:range(200,599)}", GetAndHead, (HttpContext c, int code) => Status(c, code));
        app.MapMethods("/bytes", GetAndHead, Bytes);
        app.MapMethods("/cookies", GetAndHead, Cookies);
        app.MapMethods("/crash", GetAndHead, Crash);
        app.MapPost("/discard", Discard);
        app.MapMethods("/version", GetAndHead, Version);
        return app;
    }

    private static async Task Echo(HttpContext context)
    {
        var request = context.Request;

        // IIS integration already lifts Kestrel's 30 MB body limit; do it here too
        // so big uploads also work when the app runs on its own.
        var sizeLimit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeLimit is { IsReadOnly: false })
        {
            sizeLimit.MaxRequestBodySize = null;
        }

        // Hash the body as it streams in: nothing is buffered.
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bodyLength = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                sha256.AppendData(buffer, 0, read);
                bodyLength += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var result = new
        {
            backend = Backend,
            method = request.Method,
            path = request.Path.Value ?? "",
            path_base = request.PathBase.Value ?? "",
            raw_target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "",
            query = request.QueryString.Value ?? "",
            headers = context.Items[HeaderSnapshotKey] as List<string[]> ?? SnapshotHeaders(request.Headers),
            body_length = bodyLength,
            body_sha256 = Convert.ToHexStringLower(sha256.GetHashAndReset()),
            remote_ip = context.Connection.RemoteIpAddress?.ToString() ?? "",   // after X-Forwarded-For
            remote_port = context.Connection.RemotePort,
            scheme = request.Scheme,                                             // after X-Forwarded-Proto
            host = request.Host.Value ?? "",
            pid = Environment.ProcessId,
        };
        await WriteJson(context, result);
    }

    // For bench/run.sh: the cheapest possible upload sink (no hashing, no JSON),
    // so that a POST benchmark measures the proxy rather than the app.
    private static async Task Discard(HttpContext context)
    {
        var sizeLimit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeLimit is { IsReadOnly: false })
        {
            sizeLimit.MaxRequestBodySize = null;
        }
        long bodyLength = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                bodyLength += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        await WriteText(context, 200, bodyLength.ToString());
    }

    // Which build answers, from which process, with which deploy-time setting: a
    // deploy test tells two published builds of this app apart by it.
    private static readonly string InformationalVersion =
        typeof(TestEndpoints).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>()
            .FirstOrDefault()?.InformationalVersion ?? "";

    private static Task Version(HttpContext context) => WriteJson(context, new
    {
        version = InformationalVersion,
        pid = Environment.ProcessId,
        deploy_tag = Environment.GetEnvironmentVariable("HELLOAPP_DEPLOY_TAG"),
    });

    private static Task Env(HttpContext context)
    {
        var env = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            env[(string)entry.Key] = (string?)entry.Value;
        }
        return WriteJson(context, env);
    }

    private static async Task Sleep(HttpContext context)
    {
        var ms = Math.Max(0, QueryInt(context, "ms", 0));
        await Task.Delay(ms, context.RequestAborted);
        await WriteText(context, 200, $"slept {ms}");
    }

    private static async Task Stream(HttpContext context)
    {
        var n = Math.Max(0, QueryInt(context, "n", 5));
        var intervalMs = Math.Max(0, QueryInt(context, "interval_ms", 100));
        var aborted = context.RequestAborted;

        // No Content-Length: Kestrel uses chunked encoding. Send the headers now.
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.StartAsync(aborted);
        for (var i = 0; i < n; i++)
        {
            if (i > 0)
            {
                await Task.Delay(intervalMs, aborted);
            }
            await context.Response.WriteAsync($"event {i}\n", aborted);
            await context.Response.Body.FlushAsync(aborted);
        }
    }

    private static Task Status(HttpContext context, int code)
    {
        if (code is 204 or 304)
        {
            context.Response.StatusCode = code;
            return Task.CompletedTask;
        }
        return WriteText(context, code, $"status {code}\n");
    }

    private static async Task Bytes(HttpContext context)
    {
        long remaining = Math.Max(0, QueryInt(context, "n", 0));
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = remaining;
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }
        while (remaining > 0)
        {
            var count = (int)Math.Min(remaining, Pattern.Length);
            await context.Response.Body.WriteAsync(Pattern.AsMemory(0, count), context.RequestAborted);
            remaining -= count;
        }
    }

    private static Task Cookies(HttpContext context)
    {
        context.Response.Headers.Append("Set-Cookie", "a=1; Path=/");
        context.Response.Headers.Append("Set-Cookie", "b=2; Path=/");
        return WriteText(context, 200, "cookies set\n");
    }

    private static Task Crash(HttpContext context)
    {
        Console.Error.WriteLine("HelloApp: /crash requested, exiting with code 3");
        Console.Error.Flush();
        // Environment.Exit would run a graceful host shutdown, which waits for
        // this very request. Leave at once instead, like a real crash.
        if (OperatingSystem.IsWindows())
        {
            Environment.FailFast("/crash requested");
        }
        Native.Exit(3);
        return Task.CompletedTask;
    }

    private static int QueryInt(HttpContext context, string name, int fallback) =>
        int.TryParse(context.Request.Query[name], out var value) ? value : fallback;

    private static Task WriteText(HttpContext context, int status, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes, context.RequestAborted).AsTask();
    }

    private static Task WriteJson<T>(HttpContext context, T value)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, Json);
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes, context.RequestAborted).AsTask();
    }

    private static class Native
    {
        [DllImport("libc", EntryPoint = "_exit")]
        public static extern void Exit(int status);
    }
}
