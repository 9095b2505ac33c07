// mta-milter-test: runs the test milter until Ctrl-C or SIGTERM (the bench's no-op milter, and a tool for trying Mta's client).
using Mta.MilterTestServer;

TestMilterOptions options;
try
{
    options = TestMilterOptions.Parse(args);
}
catch (FormatException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(TestMilterOptions.Usage);
    return 2;
}
await using var milter = TestMilter.Start(options);
Console.WriteLine("listening on " + milter.Address);
var stopped = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stopped.TrySetResult(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stopped.TrySetResult();
using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopped.TrySetResult(); });
await stopped.Task;
return 0;
