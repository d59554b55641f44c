// AppEvents: lines the tests read to see what happened inside the app and when
// ("aborted /work 1764661234567"). Written only when the environment variable
// REALAPP_EVENTS names a file; every process of the app appends to it.
//
// Several processes append to the same file at once (two processes of an app, or
// an old one stopping while its replacement starts), so each line is one write(2)
// on a descriptor opened with O_APPEND: the kernel puts it at the end, whole.
// File.AppendAllText would not do: .NET opens FileMode.Append without O_APPEND
// and seeks to the end itself, so two processes can write at the same offset and
// one line is lost.

using System.Runtime.InteropServices;
using System.Text;

namespace RealApp;

public sealed class AppEvents
{
    // Linux <fcntl.h>
    private const int O_WRONLY = 0x1, O_CREAT = 0x40, O_APPEND = 0x400, O_CLOEXEC = 0x80000;

    private readonly string? _path = Environment.GetEnvironmentVariable("REALAPP_EVENTS");
    private readonly object _lock = new();

    /// <summary>Appends "KIND SUBJECT UNIX-MS PID".</summary>
    public void Write(string kind, string subject)
    {
        if (string.IsNullOrEmpty(_path))
        {
            return;
        }
        var line = Encoding.UTF8.GetBytes(
            $"{kind} {subject} {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {Environment.ProcessId}\n");
        lock (_lock)
        {
            var fd = Open(_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0x1b6 /* 0666 */);
            if (fd < 0)
            {
                throw new IOException($"cannot open {_path}: errno {Marshal.GetLastPInvokeError()}");
            }
            try
            {
                var written = WriteFd(fd, line, line.Length);
                if (written != line.Length)
                {
                    throw new IOException($"short write to {_path}: {written} of {line.Length} bytes, errno {Marshal.GetLastPInvokeError()}");
                }
            }
            finally
            {
                CloseFd(fd);
            }
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    private static extern nint WriteFd(int fd, byte[] buffer, nint count);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int CloseFd(int fd);
}
