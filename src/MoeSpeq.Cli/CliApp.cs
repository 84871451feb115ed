using System.CommandLine;
using MoeSpeq.Cli.Commands;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model;

namespace MoeSpeq.Cli;

/// <summary>
/// The <c>moespeq</c> command line. Every failure the user can cause (bad arguments, a bad or missing file, a
/// model the engine cannot run) is one line on stderr and exit code 2; an internal failure is one line and exit 1.
/// </summary>
public static class CliApp
{
    public const int UserError = 2;
    public const int InternalError = 1;

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("MoeSpeq: Mixture-of-Experts inference with tiered expert storage and speculative prefetch");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(PerplexityCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        root.Subcommands.Add(RepackCommand.Create());
        root.Subcommands.Add(ExportHfCommand.Create());
        root.Subcommands.Add(MakeDraftCommand.Create());
        root.Subcommands.Add(MakeModelCommand.Create());
        root.Subcommands.Add(TraceCommand.Create());
        root.Subcommands.Add(RooflineCommand.Create());
        return root;
    }

    public static int Run(string[] args)
    {
        var parse = BuildRoot().Parse(args);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"moespeq: error: {parse.Errors[0].Message} (see moespeq --help)");
            return UserError;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"moespeq: error: {FirstLine(Flatten(e).Message)}");
            return UserError;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"moespeq: internal error: {Flatten(e).GetType().Name}: {FirstLine(Flatten(e).Message)}");
            return InternalError;
        }
    }

    /// <summary>Some framework messages append a second line (ArgumentOutOfRangeException's "Actual value was …").</summary>
    static string FirstLine(string message) => message.Split('\n', 2)[0].TrimEnd();

    static Exception Flatten(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Flatten(a.InnerExceptions[0]) : e;

    static bool IsUserError(Exception e) => Flatten(e) is GgufFormatException or ModelLoadException or FileNotFoundException
        or DirectoryNotFoundException or UnauthorizedAccessException or IOException or ArgumentException or FormatException
        or InvalidDataException or NotSupportedException or InvalidOperationException or OperationCanceledException;
}
