package sn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// AllClients is the client id of predefined topics every client has.
const AllClients = "*"

// Predefined is a table of predefined topic ids [MQTT-SN 6.7]: topic ids a client and the
// gateway agree on without REGISTER, each for one client id or for AllClients. A client's
// own entries hide AllClients entries with the same id or topic. Build it with Add or
// ParsePredefined; it is read-only once the gateway uses it, so lookups need no lock.
type Predefined struct {
	clients map[string]*predefinedSet
}

type predefinedSet struct {
	byID   map[uint16]string
	byName map[string]uint16
	lines  map[uint16]int // where each id was defined, for error messages
}

// NewPredefined returns an empty table.
func NewPredefined() *Predefined { return &Predefined{clients: map[string]*predefinedSet{}} }

// Add defines id for topicName, for clientID or for AllClients. topicName may be a filter
// (with + or #): such an id can only be subscribed to. Ids 0x0000 and 0xFFFF are reserved
// [MQTT-SN 5.3.11]; an id or topic defined twice for one client id is an error.
func (p *Predefined) Add(clientID, topicName string, id uint16) error {
	return p.add(clientID, topicName, id, 0)
}

func (p *Predefined) add(clientID, name string, id uint16, line int) error {
	switch {
	case clientID == "":
		return fmt.Errorf("empty client id (use %s for every client)", AllClients)
	case id == 0 || id == 0xFFFF:
		return fmt.Errorf("topic id %d is reserved (use 1 to 65534)", id)
	}
	if err := validFilter(name); err != nil {
		return fmt.Errorf("invalid topic %q: %v", name, err)
	}
	s := p.clients[clientID]
	if s == nil {
		s = &predefinedSet{byID: map[uint16]string{}, byName: map[string]uint16{}, lines: map[uint16]int{}}
		p.clients[clientID] = s
	}
	if old, ok := s.byID[id]; ok {
		return fmt.Errorf("topic id %d of client %s is already %q%s", id, clientID, old, at(s.lines[id]))
	}
	if old, ok := s.byName[name]; ok {
		return fmt.Errorf("topic %q of client %s already has id %d%s", name, clientID, old, at(s.lines[old]))
	}
	s.byID[id], s.byName[name], s.lines[id] = name, id, line
	return nil
}

func at(line int) string {
	if line == 0 {
		return ""
	}
	return " (line " + strconv.Itoa(line) + ")"
}

// Topic returns the topic (name or filter) predefined as id for clientID.
func (p *Predefined) Topic(clientID string, id uint16) (string, bool) {
	if p == nil {
		return "", false
	}
	if s := p.clients[clientID]; s != nil {
		if t, ok := s.byID[id]; ok {
			return t, true
		}
	}
	if s := p.clients[AllClients]; s != nil {
		t, ok := s.byID[id]
		return t, ok
	}
	return "", false
}

// ID returns the predefined id of topicName for clientID.
func (p *Predefined) ID(clientID, topicName string) (uint16, bool) {
	if p == nil {
		return 0, false
	}
	if s := p.clients[clientID]; s != nil {
		if id, ok := s.byName[topicName]; ok {
			return id, true
		}
	}
	if s := p.clients[AllClients]; s != nil {
		if id, ok := s.byName[topicName]; ok {
			// Hidden when the client defined this id for another topic.
			if own := p.clients[clientID]; own != nil && clientID != AllClients {
				if _, taken := own.byID[id]; taken {
					return 0, false
				}
			}
			return id, true
		}
	}
	return 0, false
}

// Len is the number of entries.
func (p *Predefined) Len() int {
	if p == nil {
		return 0
	}
	n := 0
	for _, s := range p.clients {
		n += len(s.byID)
	}
	return n
}

// PredefinedError is an error in a predefined-topics file: FILE:LINE: message.
type PredefinedError struct {
	File string
	Line int
	Err  error
}

func (e *PredefinedError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the error of the line.
func (e *PredefinedError) Unwrap() error { return e.Err }

// LoadPredefined reads a predefined-topics file (see ParsePredefined).
func LoadPredefined(file string) (*Predefined, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: file, Err: errors.New("is a directory, not a predefined-topics file")}
	}
	return ParsePredefined(f, file)
}

// excerpt quotes a line for a message, cut short.
func excerpt(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// ParsePredefined reads the predefined-topics format of the Eclipse Paho gateway: one entry a
// line, CLIENTID,TOPIC,ID, with AllClients ("*") as CLIENTID for every client. Spaces around
// the fields are ignored, as are empty lines and lines starting with '#'. TOPIC runs from the
// first comma to the last, so it may itself contain commas; ID is decimal, 1 to 65534.
// Errors are *PredefinedError naming name and the line.
func ParsePredefined(r io.Reader, name string) (*Predefined, error) {
	p := NewPredefined()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		fail := func(format string, args ...any) error {
			return &PredefinedError{File: name, Line: line, Err: fmt.Errorf(format, args...)}
		}
		raw := sc.Text()
		if strings.IndexByte(raw, 0) >= 0 {
			return nil, fail("not a text file (a NUL byte): expected lines CLIENTID,TOPIC,ID")
		}
		text := strings.TrimSpace(raw)
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if text == "" || text[0] == '#' {
			continue
		}
		first, last := strings.IndexByte(text, ','), strings.LastIndexByte(text, ',')
		if first < 0 || first == last {
			return nil, fail("expected CLIENTID,TOPIC,ID, got %s", excerpt(text))
		}
		client := strings.TrimSpace(text[:first])
		topicName := strings.TrimSpace(text[first+1 : last])
		idText := strings.TrimSpace(text[last+1:])
		n, err := strconv.ParseUint(idText, 10, 16)
		if err != nil {
			return nil, fail("topic id %s is not a number from 1 to 65534", excerpt(idText))
		}
		if err := p.add(client, topicName, uint16(n), line); err != nil {
			return nil, fail("%v", err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &PredefinedError{File: name, Line: line + 1, Err: err}
	}
	return p, nil
}
