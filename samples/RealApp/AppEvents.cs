// AppEvents: lines the tests read to see what happened inside the app and when
// ("aborted /work 1764661234567"). Written only when the environment variable
// REALAPP_EVENTS names a file; every process of the app appends to it.

namespace RealApp;

public sealed class AppEvents
{
    private readonly string? _path = Environment.GetEnvironmentVariable("REALAPP_EVENTS");
    private readonly object _lock = new();

    /// <summary>Appends "KIND SUBJECT UNIX-MS PID".</summary>
    public void Write(string kind, string subject)
    {
        if (string.IsNullOrEmpty(_path))
        {
            return;
        }
        var line = $"{kind} {subject} {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {Environment.ProcessId}\n";
        lock (_lock)
        {
            File.AppendAllText(_path, line);
        }
    }
}
