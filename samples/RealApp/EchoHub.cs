// EchoHub: a SignalR hub. Every call says which process and which connection
// served it, so the tests can see that a connection stays on one process.

using Microsoft.AspNetCore.SignalR;

namespace RealApp;

public sealed class EchoHub : Hub
{
    public string Echo(string message) =>
        $"pid={Environment.ProcessId} conn={Context.ConnectionId} {message}";

    public int Pid() => Environment.ProcessId;
}
