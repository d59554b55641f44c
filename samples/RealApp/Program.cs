// RealApp - the real-app conformance sample for mod_aspnetcore.
//
// An ordinary ASP.NET Core app, written the way the templates write one, with
// nothing Apache-specific in it: WebApplication.CreateBuilder turns on IIS
// integration, so behind mod_aspnetcore it listens on the port Apache gives it,
// checks the pairing token, takes PathBase, client address and scheme from
// Apache, and reads the client certificate Apache forwards.
//
// The integration tests use it to show that what real apps do works behind
// Apache: antiforgery forms and cookie login (their keys come from Data
// Protection, which needs a writable HOME), SignalR with several processes,
// server-sent events, static files, HTTPS redirection, client certificates,
// RequestAborted when the client leaves, graceful stop.
//
// The diagnostic endpoints (Diagnostics.cs) reveal the environment and let
// anyone stop the app: they exist only when RealApp:TestEndpoints is true
// (the tests set RealApp__TestEndpoints=true).

using Microsoft.AspNetCore.Authentication.Cookies;
using RealApp;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddAntiforgery();
builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
    .AddCookie(options =>
    {
        options.Cookie.Name = "RealApp.Auth";
        // An API-style answer instead of a redirect to a login page.
        options.Events.OnRedirectToLogin = context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        };
    });
builder.Services.AddAuthorization();
builder.Services.AddSignalR();
builder.Services.AddSingleton<AppEvents>();

var app = builder.Build();

var events = app.Services.GetRequiredService<AppEvents>();
app.Lifetime.ApplicationStarted.Register(() => events.Write("started", Environment.ProcessId.ToString()));
app.Lifetime.ApplicationStopping.Register(() => events.Write("stopping", Environment.ProcessId.ToString()));

// As in the templates: http requests are redirected to https when the app knows
// the https port (behind mod_aspnetcore: ASPNETCORE_ANCM_HTTPS_PORT).
app.UseHttpsRedirection();
app.UseStaticFiles();
app.UseWebSockets();
app.UseAuthentication();
app.UseAuthorization();

app.MapPages();
app.MapHub<EchoHub>("/hubs/echo");
app.MapStreams();
if (app.Configuration.GetValue("RealApp:TestEndpoints", false))
{
    app.MapDiagnostics();
}

app.Run();
