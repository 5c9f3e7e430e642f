package cli

import (
	"bytes"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// manSection is what a man page needs beyond the command definition: text that does not
// belong in --help. Keyed by subcommand name; edit it when a command's exit codes change.
type manSection struct {
	exitStatus []string // one paragraph per code or group of codes
	examples   []string // command lines
	tool       string   // the Mosquitto tool this command stands in for
}

func manExtras(name string) manSection {
	switch name {
	case "serve":
		return manSection{
			exitStatus: []string{"0 after a clean shutdown (SIGINT or SIGTERM).",
				"1 on a usage or configuration error, or when a listener cannot be opened."},
			examples: []string{"mqtt serve -v", "mqtt serve -c /etc/mosquitto/mosquitto.conf"},
			tool:     "mosquitto",
		}
	case "pub":
		return manSection{
			exitStatus: []string{"0 when the message was published.",
				"1 on a usage error or when the connection fails.",
				"The CONNACK reason code when the broker refuses the connection, for example 5 (not authorised) under MQTT 3.1.1 or 135 under MQTT 5."},
			examples: []string{"mqtt pub -t sensors/temp -m 21.5", "mqtt pub -t status -r -n", "mqtt pub -V 5 -t a/b -m hi -D publish user-property origin lab"},
			tool:     "mosquitto_pub",
		}
	case "sub":
		return manSection{
			exitStatus: []string{"0 when -C or -E ends the run, or on SIGINT.",
				"1 on a usage error or when the connection fails.",
				"The CONNACK reason code when the broker refuses the connection.",
				"27 when -W expires, even if messages were received."},
			examples: []string{"mqtt sub -t 'a/#' -v", "mqtt sub -t '$SYS/#' -v -W 12", "mqtt sub -t sensors/+ -F '%I %t %p'"},
			tool:     "mosquitto_sub",
		}
	case "passwd":
		return manSection{
			exitStatus: []string{"0 on success.",
				"1 on any error: bad options, an unknown user with -D, a missing file without -c, a user name containing a colon."},
			examples: []string{"mqtt passwd -c -b passwords alice secret", "mqtt passwd -D passwords alice"},
			tool:     "mosquitto_passwd",
		}
	case "sn-gateway":
		return manSection{
			exitStatus: []string{"0 after a clean shutdown.", "1 on a usage error, or when the UDP port cannot be opened or the broker cannot be reached."},
			examples:   []string{"mqtt sn-gateway --listen :1884 -h broker.example -p 1883"},
		}
	case "bench":
		return manSection{
			exitStatus: []string{"0 when the run completes.", "1 on a usage error or when no connection could be made."},
			examples:   []string{"mqtt bench -h 127.0.0.1 -p 1883"},
		}
	}
	return manSection{exitStatus: []string{"0 on success, 1 on error."}}
}

// manPageCommands are the subcommands with a page of their own.
func manPageCommands(cmds []*ucli.Command) []*ucli.Command {
	var out []*ucli.Command
	for _, c := range visible(cmds) {
		if c.Name != "version" && c.Name != "completion" {
			out = append(out, c)
		}
	}
	return out
}

// roff escapes text for a man page: backslashes, hyphens (so options copy and paste as
// typed), non-ASCII characters and control characters at the start of a line.
func roff(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '\n':
			b.WriteString("\n")
		case r > 126:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

func manHeader(b *bytes.Buffer, page, desc string) {
	fmt.Fprintf(b, ".\\\" %s\n", genHeader)
	fmt.Fprintf(b, ".TH %s 1 \"\" \"mqtt\" \"User Commands\"\n", roff(strings.ToUpper(page)))
	fmt.Fprintf(b, ".SH NAME\n%s \\- %s\n", roff(page), roff(desc))
}

// manPages renders mqtt.1 and one page per subcommand, keyed by file name.
func manPages(cmds []*ucli.Command) (map[string][]byte, error) {
	pages := map[string][]byte{}
	sub := manPageCommands(cmds)

	var b bytes.Buffer
	manHeader(&b, "mqtt", "MQTT broker, clients and tools in one binary")
	b.WriteString(".SH SYNOPSIS\n.B mqtt\n.I command\n[\\fIoptions\\fR] [\\fIarguments\\fR]\n")
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(appDescription))
	b.WriteString(".SH COMMANDS\n")
	for _, c := range visible(cmds) {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s.\n", roff(c.Name), roff(upperFirst(c.Usage)))
		for _, s := range sub {
			if s == c {
				fmt.Fprintf(&b, "See\n.BR mqtt\\-%s (1).\n", roff(c.Name))
			}
		}
	}
	b.WriteString(".SH OPTIONS\n.TP\n.B \\-\\-help\nShow help. Help is \\fB\\-\\-help\\fR only: \\fB\\-h\\fR is the broker host, as in Mosquitto's tools.\n")
	b.WriteString(".SH MOSQUITTO COMPATIBILITY\nInvoked through a link with one of these names, \\fBmqtt\\fR acts as that tool: its options at the top level, its name in help and error messages.\n")
	for _, c := range sub {
		if t := manExtras(c.Name).tool; t != "" {
			fmt.Fprintf(&b, ".TP\n.B %s\n.B mqtt %s\n", roff(t), roff(c.Name))
		}
	}
	b.WriteString(".PP\n\\fBmake install\\-links\\fR creates these links next to the installed binary.\n")
	b.WriteString(".SH ENVIRONMENT\n.TP\n.B NO_COLOR\nWhen set and not empty, error messages are not coloured. They are coloured only on a terminal.\n")
	b.WriteString(".SH EXIT STATUS\n0 on success, 1 on a usage error; each command's page lists its other codes.\n")
	b.WriteString(".SH SEE ALSO\n")
	for i, c := range sub {
		sep := ","
		if i == len(sub)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, ".BR mqtt\\-%s (1)%s\n", roff(c.Name), sep)
	}
	pages["mqtt.1"] = append([]byte(nil), b.Bytes()...)

	for _, c := range sub {
		b.Reset()
		extra := manExtras(c.Name)
		page := "mqtt-" + c.Name
		manHeader(&b, page, c.Usage)
		b.WriteString(".SH SYNOPSIS\n")
		args := ""
		if c.ArgsUsage != "" {
			args = " " + roff(c.ArgsUsage)
		}
		fmt.Fprintf(&b, ".B mqtt %s\n[\\fIoptions\\fR]%s\n", roff(c.Name), args)
		if extra.tool != "" {
			fmt.Fprintf(&b, ".br\n.B %s\n[\\fIoptions\\fR]%s\n", roff(extra.tool), args)
		}
		fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(c.Description))
		if extra.tool != "" {
			fmt.Fprintf(&b, ".PP\nInvoked through a link named \\fB%s\\fR, \\fBmqtt\\fR runs this command.\n", roff(extra.tool))
		}
		b.WriteString(".SH OPTIONS\n")
		specs := specsOf(c)
		var cats []string
		seen := map[string]bool{}
		for _, s := range specs {
			if !seen[s.category] {
				seen[s.category] = true
				cats = append(cats, s.category)
			}
		}
		// Command-specific (uncategorized) flags first, then the shared groups.
		for _, cat := range cats {
			if cat != "" {
				fmt.Fprintf(&b, ".SS %s\n", roff(cat))
			}
			for _, s := range specs {
				if s.category != cat {
					continue
				}
				var names []string
				for _, n := range s.names() {
					names = append(names, `\fB`+roff(n)+`\fR`)
				}
				fmt.Fprintf(&b, ".TP\n%s", strings.Join(names, ", "))
				if s.value != "" {
					fmt.Fprintf(&b, " \\fI%s\\fR", roff(s.value))
				}
				text := upperFirst(s.usage)
				if s.def != "" {
					text += " (default: " + s.def + ")"
				}
				if s.repeat {
					text += ". May be given more than once"
				}
				fmt.Fprintf(&b, "\n%s.\n", roff(strings.TrimSuffix(text, ".")))
			}
		}
		b.WriteString(".SH EXIT STATUS\n")
		for i, p := range extra.exitStatus {
			if i > 0 {
				b.WriteString(".PP\n")
			}
			fmt.Fprintf(&b, "%s\n", roff(p))
		}
		if len(extra.examples) > 0 {
			b.WriteString(".SH EXAMPLES\n")
			for _, e := range extra.examples {
				fmt.Fprintf(&b, ".PP\n.EX\n%s\n.EE\n", roff(e))
			}
		}
		b.WriteString(".SH SEE ALSO\n.BR mqtt (1)")
		for _, o := range sub {
			if o != c {
				fmt.Fprintf(&b, ",\n.BR mqtt\\-%s (1)", roff(o.Name))
			}
		}
		if extra.tool != "" {
			sec := 1
			if extra.tool == "mosquitto" {
				sec = 8
			}
			fmt.Fprintf(&b, ",\n.BR %s (%d)", roff(extra.tool), sec)
		}
		b.WriteString("\n")
		pages[page+".1"] = append([]byte(nil), b.Bytes()...)
	}
	return pages, nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
