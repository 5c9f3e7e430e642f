package cli

import (
	"io"

	ucli "github.com/urfave/cli/v2"
)

func completionCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "Prints a completion script for the shell, generated from the command definitions. " +
			"For example: source <(mqtt completion bash), or mqtt completion fish > ~/.config/fish/completions/mqtt.fish.",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("completion needs one argument: bash, zsh or fish")
			}
			var gen func(io.Writer, []*ucli.Command) error
			switch c.Args().First() {
			case "bash":
				gen = writeBash
			case "zsh":
				gen = writeZsh
			case "fish":
				gen = writeFish
			default:
				return usageErrorf("unknown shell %q: expected bash, zsh or fish", c.Args().First())
			}
			return gen(c.App.Writer, commands())
		},
	}
}
