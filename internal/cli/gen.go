package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// The generator turns the command definitions into shell completions and man pages, so the
// three never drift apart. What it needs is read from the flags themselves:
//   - the placeholder in a flag's Usage (`PORT` in backquotes, as urfave shows it in --help);
//     a placeholder with | lists the accepted values, e.g. `0|1|2`, and completes to them;
//     the placeholder DIR completes directory names;
//   - TakesFile: true completes file names;
//   - slice flags are repeatable;
//   - "(also a, b)" in the Usage of such a flag adds other accepted spellings (-V mqttv5);
//   - a command's ArgsUsage with | (e.g. "bash|zsh|fish") completes its first argument to those
//     words, as do a command's subcommands (bench conn|pub|sub|pubsub); an ArgsUsage starting
//     with FILE completes file names.
// Prose for the man pages is the command's Description plus what man.go adds per command
// (more description, EXIT STATUS, EXAMPLES, FILES, SEE ALSO); mqtt.conf(5) is man_conf.go.

// flagSpec is one flag as the generator sees it.
type flagSpec struct {
	long     []string // names longer than one letter
	short    []string // one-letter names
	value    string   // placeholder for the value; "" for switches
	choices  []string // accepted values, from a placeholder such as `0|1|2`
	file     bool     // the value is a file name
	dir      bool     // the value is a directory name
	repeat   bool     // may be given more than once
	usage    string   // help text without the backquotes
	def      string   // default, for flags with a value
	category string
}

// names returns every spelling, one-letter ones first: -t, --topic.
func (f flagSpec) names() []string {
	var out []string
	for _, s := range f.short {
		out = append(out, "-"+s)
	}
	for _, l := range f.long {
		out = append(out, "--"+l)
	}
	return out
}

// splitUsage returns the backquoted placeholder of a usage string and the usage without quotes.
func splitUsage(usage string) (placeholder, text string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	placeholder = usage[i+1 : i+1+j]
	return placeholder, usage[:i] + placeholder + usage[i+1+j+1:]
}

func specOf(f ucli.Flag) flagSpec {
	var s flagSpec
	for _, n := range f.Names() {
		if len([]rune(n)) == 1 {
			s.short = append(s.short, n)
		} else {
			s.long = append(s.long, n)
		}
	}
	doc, ok := f.(ucli.DocGenerationFlag)
	if !ok {
		return s
	}
	ph, text := splitUsage(doc.GetUsage())
	s.usage = text
	if doc.TakesValue() {
		s.value = ph
		if s.value == "" {
			s.value = "VALUE"
		}
		if strings.Contains(ph, "|") {
			s.choices = strings.Split(ph, "|")
			s.choices = append(s.choices, alsoAccepted(text)...)
		}
		s.dir = ph == "DIR"
		if d := doc.GetDefaultText(); d != "" && d != "[]" && d != `""` {
			s.def = strings.Trim(d, `"`)
		}
	}
	if sf, ok := f.(ucli.DocGenerationSliceFlag); ok && sf.IsSliceFlag() {
		s.repeat = true
	}
	switch ff := f.(type) {
	case *ucli.StringFlag:
		s.file = ff.TakesFile
	case *ucli.StringSliceFlag:
		s.file = ff.TakesFile
	case *ucli.PathFlag:
		s.file = true
	}
	if cf, ok := f.(ucli.CategorizableFlag); ok {
		s.category = cf.GetCategory()
	}
	return s
}

// alsoAccepted returns the other spellings a usage lists as "(also a, b, c)", so that
// -V completes to mqttv5 as well as 5 without the placeholder growing unreadable in --help.
func alsoAccepted(usage string) []string {
	i := strings.Index(usage, "(also ")
	if i < 0 {
		return nil
	}
	rest := usage[i+len("(also "):]
	j := strings.IndexByte(rest, ')')
	if j < 0 {
		return nil
	}
	var out []string
	for _, w := range strings.Split(rest[:j], ",") {
		if w = strings.TrimSpace(w); w != "" && !strings.ContainsAny(w, " '\"") {
			out = append(out, w)
		}
	}
	return out
}

// specsOf returns the visible flags of cmd plus --help.
func specsOf(cmd *ucli.Command) []flagSpec {
	var out []flagSpec
	for _, f := range cmd.Flags {
		if v, ok := f.(ucli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		if f.Names()[0] == "help" {
			continue
		}
		out = append(out, specOf(f))
	}
	return append(out, flagSpec{long: []string{"help"}, usage: "show help"})
}

// argChoices returns the words a command's first argument completes to, if it lists them.
func argChoices(cmd *ucli.Command) []string {
	if len(cmd.Subcommands) > 0 { // e.g. bench conn|pub|sub|pubsub
		var names []string
		for _, s := range visible(cmd.Subcommands) {
			names = append(names, s.Name)
		}
		return names
	}
	if strings.Contains(cmd.ArgsUsage, "|") && !strings.ContainsAny(cmd.ArgsUsage, " []") {
		return strings.Split(cmd.ArgsUsage, "|")
	}
	return nil
}

func argFiles(cmd *ucli.Command) bool { return strings.HasPrefix(cmd.ArgsUsage, "FILE") }

func visible(cmds []*ucli.Command) []*ucli.Command {
	var out []*ucli.Command
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

const genHeader = "Generated by `make gen` from the command definitions in internal/cli; do not edit."

// writeBash writes the bash completion script.
func writeBash(w io.Writer, cmds []*ucli.Command) error {
	var b bytes.Buffer
	var names []string
	for _, c := range visible(cmds) {
		names = append(names, c.Name)
	}
	fmt.Fprintf(&b, "# bash completion for mqtt.\n# %s\n\n", genHeader)
	b.WriteString(`_mqtt() {
    local cur prev cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
        -*) ;;
        *)
            cmd="${COMP_WORDS[i]}"
            break
            ;;
        esac
    done
    case "$cmd" in
    "")
`)
	fmt.Fprintf(&b, "        mapfile -t COMPREPLY < <(compgen -W %s -- \"$cur\")\n        ;;\n", shQuote(strings.Join(append(names, "--help"), " ")))
	for _, c := range visible(cmds) {
		specs := specsOf(c)
		fmt.Fprintf(&b, "    %s)\n", c.Name)
		var plain []string
		for _, s := range specs {
			if s.value != "" && !s.file && !s.dir && s.choices == nil {
				plain = append(plain, s.names()...)
			}
		}
		b.WriteString("        case \"$prev\" in\n")
		for _, s := range specs {
			pat := strings.Join(s.names(), "|")
			switch {
			case s.value == "":
			case s.choices != nil:
				fmt.Fprintf(&b, "        %s)\n            mapfile -t COMPREPLY < <(compgen -W %s -- \"$cur\")\n            return\n            ;;\n",
					pat, shQuote(strings.Join(s.choices, " ")))
			case s.dir:
				fmt.Fprintf(&b, "        %s)\n            compopt -o filenames 2>/dev/null\n            mapfile -t COMPREPLY < <(compgen -d -- \"$cur\")\n            return\n            ;;\n", pat)
			case s.file:
				fmt.Fprintf(&b, "        %s)\n            compopt -o filenames 2>/dev/null\n            mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n            return\n            ;;\n", pat)
			}
		}
		if len(plain) > 0 {
			fmt.Fprintf(&b, "        %s)\n            return\n            ;;\n", strings.Join(plain, "|"))
		}
		b.WriteString("        esac\n")
		var all []string
		for _, s := range specs {
			all = append(all, s.names()...)
		}
		flagsReply := fmt.Sprintf("mapfile -t COMPREPLY < <(compgen -W %s -- \"$cur\")", shQuote(strings.Join(all, " ")))
		switch {
		case argChoices(c) != nil:
			fmt.Fprintf(&b, "        if [[ $cur == -* ]]; then\n            %s\n        else\n            mapfile -t COMPREPLY < <(compgen -W %s -- \"$cur\")\n        fi\n",
				flagsReply, shQuote(strings.Join(argChoices(c), " ")))
		case argFiles(c):
			fmt.Fprintf(&b, "        if [[ $cur == -* ]]; then\n            %s\n        else\n            compopt -o filenames 2>/dev/null\n            mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n        fi\n", flagsReply)
		default:
			fmt.Fprintf(&b, "        %s\n", flagsReply)
		}
		b.WriteString("        ;;\n")
	}
	b.WriteString("    esac\n}\n\ncomplete -F _mqtt mqtt\n")
	_, err := w.Write(b.Bytes())
	return err
}

// shQuote quotes s for POSIX shells and fish.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshText makes s safe inside an _arguments spec's description in single quotes.
func zshText(s string) string {
	r := strings.NewReplacer("'", `'\''`, "[", `\[`, "]", `\]`, ":", `\:`)
	return r.Replace(s)
}

// writeZsh writes the zsh completion function (#compdef file).
func writeZsh(w io.Writer, cmds []*ucli.Command) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#compdef mqtt\n# zsh completion for mqtt.\n# %s\n\n", genHeader)
	b.WriteString("_mqtt() {\n    local curcontext=\"$curcontext\" state line\n    typeset -A opt_args\n    local -a commands\n    commands=(\n")
	for _, c := range visible(cmds) {
		fmt.Fprintf(&b, "        '%s:%s'\n", c.Name, strings.ReplaceAll(strings.ReplaceAll(c.Usage, "'", `'\''`), ":", `\:`))
	}
	b.WriteString("    )\n    _arguments -C \\\n        '--help[show help]' \\\n        '1: :->command' \\\n        '*:: :->args' && return\n")
	b.WriteString("    case $state in\n    command)\n        _describe -t commands 'mqtt command' commands\n        ;;\n    args)\n        case $words[1] in\n")
	for _, c := range visible(cmds) {
		fmt.Fprintf(&b, "        %s)\n            _arguments -s", c.Name)
		for _, s := range specsOf(c) {
			names := s.names()
			var lead string
			switch {
			case s.repeat && len(names) > 1:
				lead = "'*'{" + strings.Join(names, ",") + "}'"
			case s.repeat:
				lead = "'*" + names[0]
			case len(names) > 1:
				lead = "'(" + strings.Join(names, " ") + ")'{" + strings.Join(names, ",") + "}'"
			default:
				lead = "'" + names[0]
			}
			spec := lead + "[" + zshText(s.usage) + "]"
			if s.value != "" {
				action := " "
				switch {
				case s.choices != nil:
					action = "(" + strings.Join(s.choices, " ") + ")"
				case s.dir:
					action = "_files -/"
				case s.file:
					action = "_files"
				}
				spec += ":" + zshText(s.value) + ":" + action
			}
			fmt.Fprintf(&b, " \\\n                %s'", spec)
		}
		switch {
		case argChoices(c) != nil:
			label := c.ArgsUsage
			if label == "" {
				label = "command"
			}
			fmt.Fprintf(&b, " \\\n                '1:%s:(%s)'", zshText(label), strings.Join(argChoices(c), " "))
		case argFiles(c):
			b.WriteString(" \\\n                '1:file:_files' \\\n                '*:argument: '")
		}
		b.WriteString("\n            ;;\n")
	}
	b.WriteString("        esac\n        ;;\n    esac\n}\n\n")
	b.WriteString("if [ \"$funcstack[1]\" = \"_mqtt\" ]; then\n    _mqtt \"$@\"\nelse\n    compdef _mqtt mqtt\nfi\n")
	_, err := w.Write(b.Bytes())
	return err
}

// fishText quotes s for fish: single quotes with \ and ' escaped.
func fishText(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

// writeFish writes the fish completion script.
func writeFish(w io.Writer, cmds []*ucli.Command) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# fish completion for mqtt.\n# %s\n\n", genHeader)
	b.WriteString("complete -c mqtt -f\n")
	b.WriteString("complete -c mqtt -n __fish_use_subcommand -l help -d 'show help'\n")
	for _, c := range visible(cmds) {
		fmt.Fprintf(&b, "complete -c mqtt -n __fish_use_subcommand -a %s -d %s\n", c.Name, fishText(c.Usage))
	}
	for _, c := range visible(cmds) {
		b.WriteString("\n")
		cond := fishText("__fish_seen_subcommand_from " + c.Name)
		for _, s := range specsOf(c) {
			line := "complete -c mqtt -n " + cond
			for _, n := range s.short {
				line += " -s " + n
			}
			for _, n := range s.long {
				line += " -l " + n
			}
			switch {
			case s.value == "":
			case s.choices != nil:
				line += " -x -a " + fishText(strings.Join(s.choices, " "))
			case s.dir:
				line += " -x -a '(__fish_complete_directories)'"
			case s.file:
				line += " -r -F"
			default:
				line += " -x"
			}
			b.WriteString(line + " -d " + fishText(s.usage) + "\n")
		}
		switch {
		case argChoices(c) != nil:
			fmt.Fprintf(&b, "complete -c mqtt -n %s -a %s\n", cond, fishText(strings.Join(argChoices(c), " ")))
		case argFiles(c):
			fmt.Fprintf(&b, "complete -c mqtt -n %s -F\n", cond)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// generatedFiles renders every generated file, keyed by its path relative to the repository root.
func generatedFiles() (map[string][]byte, error) {
	out := map[string][]byte{}
	for path, gen := range map[string]func(io.Writer, []*ucli.Command) error{
		"completions/mqtt.bash": writeBash,
		"completions/_mqtt":     writeZsh,
		"completions/mqtt.fish": writeFish,
	} {
		var b bytes.Buffer
		if err := gen(&b, commands()); err != nil {
			return nil, err
		}
		out[path] = b.Bytes()
	}
	pages, err := manPages(commands())
	if err != nil {
		return nil, err
	}
	for name, page := range pages {
		out["man/"+name] = page
	}
	return out, nil
}

// GenerateFiles writes the completion scripts and man pages under root (the repository root:
// root/completions and root/man). `make gen` runs it through ./internal/cli/gen.
func GenerateFiles(root string) error {
	files, err := generatedFiles()
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}
