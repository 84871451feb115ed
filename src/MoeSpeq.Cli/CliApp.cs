namespace MoeSpeq.Cli;

public static class CliApp
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("moespeq: no commands yet");
        return 2;
    }
}
