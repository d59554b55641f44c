// Diagnostics: endpoints for mod_aspnetcore's integration tests. They reveal
// the environment and let anyone stop the app, so Program.cs maps them only
// when RealApp:TestEndpoints is true.
//
//   GET /whoami        JSON: pid, user, home, pathBase, path, scheme, host, remoteIp,
//                      remotePort, httpsPortEnv (ASPNETCORE_ANCM_HTTPS_PORT), clientCert
//   GET /clientcert    JSON: the client certificate the app sees (or present=false)
//   GET /keys          JSON: HOME, the Data Protection key directory, its key files
//   GET /work?ms=N     waits N ms on RequestAborted; events "begun", then "completed"
//                      or "aborted" /work
//   GET /log?level=L&msg=M   logs M at level L (Information, Warning, Error, Critical)
//   GET /crash         the process exits at once with code 3
//   GET /env?name=X    the value of environment variable X (404 when unset)

using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.DataProtection;

namespace RealApp;

public static class Diagnostics
{
    public static WebApplication MapDiagnostics(this WebApplication app)
    {
        app.MapGet("/whoami", (Delegate)WhoAmI);
        app.MapGet("/clientcert", (Delegate)ClientCert);
        app.MapGet("/keys", Keys);
        app.MapGet("/work", Work);
        app.MapGet("/log", Log);
        app.MapGet("/crash", Crash);
        app.MapGet("/env", Env);
        return app;
    }

    private static object? Describe(X509Certificate2? cert) => cert is null ? null : new
    {
        subject = cert.Subject,
        issuer = cert.Issuer,
        thumbprint = cert.Thumbprint,
        rawBase64 = Convert.ToBase64String(cert.RawData),
    };

    private static async Task<IResult> WhoAmI(HttpContext context)
    {
        var request = context.Request;
        var connection = context.Connection;
        var cert = await connection.GetClientCertificateAsync(context.RequestAborted);
        return Results.Json(new
        {
            pid = Environment.ProcessId,
            user = Environment.UserName,
            home = Environment.GetEnvironmentVariable("HOME"),
            pathBase = request.PathBase.Value,
            path = request.Path.Value,
            scheme = request.Scheme,
            isHttps = request.IsHttps,
            host = request.Host.Value,
            remoteIp = connection.RemoteIpAddress?.ToString(),
            remotePort = connection.RemotePort,
            httpsPortEnv = Environment.GetEnvironmentVariable("ASPNETCORE_ANCM_HTTPS_PORT"),
            clientCert = Describe(cert),
        });
    }

    private static async Task<IResult> ClientCert(HttpContext context)
    {
        var cert = await context.Connection.GetClientCertificateAsync(context.RequestAborted);
        return Results.Json(new { present = cert is not null, cert = Describe(cert) });
    }

    // Protecting something makes Data Protection create its key ring (in
    // $HOME/.aspnet/DataProtection-Keys when HOME is writable).
    private static IResult Keys(IDataProtectionProvider provider)
    {
        provider.CreateProtector("RealApp.Keys").Protect("probe");
        var home = Environment.GetEnvironmentVariable("HOME");
        var dir = home is null ? null : Path.Combine(home, ".aspnet", "DataProtection-Keys");
        var files = dir is not null && Directory.Exists(dir)
            ? Directory.GetFiles(dir, "*.xml").Select(Path.GetFileName).Order().ToArray()
            : [];
        return Results.Json(new { home, keyDir = dir, keyDirExists = dir is not null && Directory.Exists(dir), keyFiles = files });
    }

    private static async Task<IResult> Work(HttpContext context, AppEvents events, int ms = 10000)
    {
        events.Write("begun", "/work");
        try
        {
            await Task.Delay(ms, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            events.Write("aborted", "/work");
            return Results.Empty;
        }
        events.Write("completed", "/work");
        return Results.Text($"worked {ms}");
    }

    private static IResult Log(ILoggerFactory loggers, string level = "Information", string msg = "hello")
    {
        if (!Enum.TryParse<LogLevel>(level, ignoreCase: true, out var parsed))
        {
            return Results.Text("unknown level", statusCode: StatusCodes.Status400BadRequest);
        }
        loggers.CreateLogger("RealApp.Log").Log(parsed, "{Message}", msg);
        return Results.Text("logged");
    }

    private static IResult Env(string name)
    {
        var value = Environment.GetEnvironmentVariable(name);
        return value is null ? Results.NotFound() : Results.Text(value);
    }

    private static IResult Crash()
    {
        Console.Error.WriteLine("RealApp: /crash requested, exiting with code 3");
        Console.Error.Flush();
        // Environment.Exit would stop the host gracefully and wait for this very
        // request: leave at once instead, like a real crash.
        Exit(3);
        return Results.Empty;
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void Exit(int status);
}
