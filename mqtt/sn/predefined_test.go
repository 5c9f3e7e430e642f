package sn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePredefined(t *testing.T) {
	const text = "\uFEFF# ClientId, TopicName, TopicId\n" +
		"*, sensors/temperature, 1\n" +
		"\n" +
		"  *,alarms/#,2  \n" +
		"node-7, node7/out, 1\n" +
		"node-7,a,b/with,commas , 10\n"
	p, err := ParsePredefined(strings.NewReader(text), "topics.conf")
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 4 {
		t.Errorf("Len %d", p.Len())
	}
	for _, c := range []struct {
		client string
		id     uint16
		want   string
		ok     bool
	}{
		{"any", 1, "sensors/temperature", true},
		{"any", 2, "alarms/#", true},
		{"node-7", 1, "node7/out", true}, // the client's own entry hides the * one
		{"node-7", 2, "alarms/#", true},
		{"node-7", 10, "a,b/with,commas", true},
		{"any", 10, "", false},
		{"any", 3, "", false},
	} {
		got, ok := p.Topic(c.client, c.id)
		if got != c.want || ok != c.ok {
			t.Errorf("Topic(%s, %d) = %q %v, want %q %v", c.client, c.id, got, ok, c.want, c.ok)
		}
	}
	if id, ok := p.ID("any", "sensors/temperature"); !ok || id != 1 {
		t.Errorf("ID any: %d %v", id, ok)
	}
	if _, ok := p.ID("node-7", "sensors/temperature"); ok {
		t.Error("node-7's own id 1 should hide the * topic with id 1")
	}
	if id, ok := p.ID("node-7", "node7/out"); !ok || id != 1 {
		t.Errorf("ID node-7: %d %v", id, ok)
	}
	var nilTable *Predefined
	if _, ok := nilTable.Topic("x", 1); ok {
		t.Error("nil table found a topic")
	}
}

func TestParsePredefinedErrors(t *testing.T) {
	for _, c := range []struct {
		text, want string
		line       int
	}{
		{"*,a\n", "expected CLIENTID,TOPIC,ID", 1},
		{"# c\n*,a,x\n", `topic id "x" is not a number`, 2},
		{"*,a,0\n", "topic id 0 is reserved", 1},
		{"*,a,65535\n", "topic id 65535 is reserved", 1},
		{"*,a,65536\n", "not a number from 1 to 65534", 1},
		{"*,a,-1\n", "not a number", 1},
		{",a,1\n", "empty client id", 1},
		{"*,,1\n", "invalid topic", 1},
		{"*,a/#/b,1\n", "invalid topic", 1},
		{"*,a,1\n\n*,b,1\n", `topic id 1 of client * is already "a" (line 1)`, 3},
		{"c,a,1\nc,a,2\n", `topic "a" of client c already has id 1 (line 1)`, 2},
		{"*,bad\xff,1\n", "invalid topic", 1},
	} {
		_, err := ParsePredefined(strings.NewReader(c.text), "f.conf")
		var pe *PredefinedError
		if !errors.As(err, &pe) || pe.Line != c.line || !strings.Contains(err.Error(), c.want) ||
			!strings.HasPrefix(err.Error(), "f.conf:") {
			t.Errorf("%q: %v, want f.conf:%d: ...%s", c.text, err, c.line, c.want)
		}
	}
}

func TestLoadPredefined(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.conf")
	if err := os.WriteFile(f, []byte("*,t,5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPredefined(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Topic("c", 5); got != "t" {
		t.Errorf("got %q", got)
	}
	if _, err := LoadPredefined(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// A directory, or a binary file, given as the predefined-topics file: a clear error, without
// the file's bytes.
func TestLoadPredefinedNotText(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPredefined(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v", err)
	}
	bin := filepath.Join(dir, "bin")
	data := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 2000)...)
	data = append(data, "\n,x,\x00\x00\x00\n"...)
	if err := os.WriteFile(bin, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPredefined(bin)
	if err == nil || !strings.HasPrefix(err.Error(), bin+":1: not a text file") || len(err.Error()) > len(bin)+120 {
		t.Errorf("a binary file: %.200v", err)
	}
	// A long line is quoted, cut short.
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, []byte(strings.Repeat("x", 5000)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPredefined(long); err == nil || len(err.Error()) > len(long)+120 || !strings.Contains(err.Error(), `xxx"...`) {
		t.Errorf("a long line: %.200v", err)
	}
}
