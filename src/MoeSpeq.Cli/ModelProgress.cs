using MoeSpeq.Model;
using Spectre.Console;

namespace MoeSpeq.Cli;

/// <summary>Loads a model with a progress display on stderr when stderr is a terminal (stdout stays clean for pipes).</summary>
public static class ModelProgress
{
    public static LanguageModel Load(string path, ModelOptions options)
    {
        if (Console.IsErrorRedirected) return ModelLoader.Load(path, options);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        LanguageModel? model = null;
        console.Progress().AutoClear(true).Start(ctx =>
        {
            var task = ctx.AddTask($"loading {System.IO.Path.GetFileName(path)}", maxValue: 1);
            model = ModelLoader.Load(path, options with
            {
                Progress = (done, total) => { task.MaxValue = total; task.Value = done; },
            });
            task.Value = task.MaxValue;
        });
        return model!;
    }

    /// <summary>Runs <paramref name="work"/> with a progress bar on stderr fed by its (done, total) callback.</summary>
    public static void Track(string label, Action<Action<int, int>> work)
    {
        if (Console.IsErrorRedirected)
        {
            work((_, _) => { });
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.Progress().AutoClear(true).Start(ctx =>
        {
            var task = ctx.AddTask(label, maxValue: 1);
            work((done, total) => { task.MaxValue = total; task.Value = done; });
        });
    }
}
