return MoeSpeq.Cli.CliApp.Run(args);
