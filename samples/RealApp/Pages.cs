// Pages: what a small site does - a home page with generated links, a form
// protected by antiforgery, a cookie login.

using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace RealApp;

public static class Pages
{
    public static WebApplication MapPages(this WebApplication app)
    {
        app.MapGet("/", Home).WithName("home");
        app.MapGet("/form", FormPage).WithName("form");
        app.MapPost("/form", FormPost);
        app.MapPost("/login", (Delegate)Login).WithName("login");
        app.MapGet("/me", Me).WithName("me");
        app.MapPost("/logout", (Delegate)Logout);
        return app;
    }

    private static IResult Html(string body) => Results.Content(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>RealApp</title>" +
        "<link rel=\"stylesheet\" href=\"site.css\"></head><body>\n" + body + "\n</body></html>\n",
        "text/html; charset=utf-8");

    // Links come from the app's LinkGenerator, so they carry the PathBase that
    // Apache's virtual path gave the app (/shop/form, not /form).
    private static IResult Home(HttpContext context, LinkGenerator links)
    {
        string Link(string name) => WebUtility.HtmlEncode(links.GetPathByName(context, name) ?? "");
        return Html($"""
            <h1>RealApp</h1>
            <p id="pathbase">{WebUtility.HtmlEncode(context.Request.PathBase.Value ?? "")}</p>
            <ul>
            <li><a id="link-form" href="{Link("form")}">form</a></li>
            <li><a id="link-me" href="{Link("me")}">me</a></li>
            <li><a id="link-home" href="{Link("home")}">home</a></li>
            </ul>
            """);
    }

    private static IResult FormPage(HttpContext context, IAntiforgery antiforgery, LinkGenerator links)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var action = WebUtility.HtmlEncode(links.GetPathByName(context, "form") ?? "");
        return Html($"""
            <form method="post" action="{action}">
            <input type="hidden" id="af" name="{WebUtility.HtmlEncode(tokens.FormFieldName)}" value="{WebUtility.HtmlEncode(tokens.RequestToken)}">
            <input name="text"><button>send</button>
            </form>
            """);
    }

    private static async Task<IResult> FormPost(HttpContext context, IAntiforgery antiforgery)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(context);
        }
        catch (AntiforgeryValidationException e)
        {
            return Results.Text("antiforgery failed: " + e.Message, statusCode: StatusCodes.Status400BadRequest);
        }
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        return Results.Text($"accepted {form["text"]} by {Environment.ProcessId}");
    }

    private static async Task<IResult> Login(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var user = form["user"].ToString();
        if (string.IsNullOrWhiteSpace(user))
        {
            return Results.Text("user missing", statusCode: StatusCodes.Status400BadRequest);
        }
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, user)],
                                          CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(new ClaimsPrincipal(identity));
        return Results.Text($"signed in {user} by {Environment.ProcessId}");
    }

    private static IResult Me(HttpContext context)
    {
        if (context.User.Identity?.IsAuthenticated != true)
        {
            return Results.Text("not signed in", statusCode: StatusCodes.Status401Unauthorized);
        }
        return Results.Text($"user {context.User.Identity.Name} pid {Environment.ProcessId}");
    }

    private static async Task<IResult> Logout(HttpContext context)
    {
        await context.SignOutAsync();
        return Results.Text("signed out");
    }
}
