package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// decodeBody reads exactly one JSON object into v: unknown fields,
// trailing data, a field given twice (in the object or in any object it
// holds) and anything but an object (null, a bare value, an array) are
// refused. encoding/json would take a repeated field last-wins, so the
// checks and the transaction could each see another value; and it
// matches field names without regard to case, so "amount" and "Amount"
// count as the same field here too.
//
// The body streams through the decoder as before: the duplicate check
// watches the bytes go by and keeps only the field names.
func decodeBody(r io.Reader, v any) error {
	var keys fieldScanner
	lead := &leadChecker{}
	dec := json.NewDecoder(io.TeeReader(r, io.MultiWriter(lead, &keys)))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case lead.first == 0 && (err == nil || errors.Is(err, io.EOF)):
		return errors.New("bad request body: empty; want one JSON object")
	case lead.first != 0 && lead.first != '{':
		return errors.New("bad request body: want one JSON object ({...}), not null, a bare value or an array")
	case err != nil:
		return fmt.Errorf("bad request body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("bad request body: trailing data after the JSON object")
	}
	if keys.repeated {
		return fmt.Errorf("bad request body: field %q given twice", keys.dup)
	}
	return nil
}

// leadChecker notes the first byte of the body that is not white space.
type leadChecker struct{ first byte }

func (l *leadChecker) Write(p []byte) (int, error) {
	if l.first == 0 {
		if t := bytes.TrimLeft(p, " \t\r\n"); len(t) > 0 {
			l.first = t[0]
		}
	}
	return len(p), nil
}

// fieldScanner follows the JSON text written to it and notes the first
// field name that appears twice in one object (names folded as
// encoding/json matches them). It trusts the decoder to judge the
// syntax: on text that is not JSON its finding means nothing.
type fieldScanner struct {
	stack    []scanFrame
	inString bool
	escaped  bool
	inKey    bool
	key      []byte
	// repeated: a name came twice; dup is the first such name.
	repeated bool
	dup      string
}

type scanFrame struct {
	object  bool
	wantKey bool
	keys    map[string]struct{}
}

// maxKeyBytes bounds the names the scanner keeps (a request's own are a
// few bytes; a longer one is unknown to every request and refused).
const maxKeyBytes = 256

func (s *fieldScanner) Write(p []byte) (int, error) {
	for _, c := range p {
		if s.inString {
			if s.inKey && len(s.key) <= maxKeyBytes {
				s.key = append(s.key, c)
			}
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inString = false
				if s.inKey {
					s.inKey = false
					s.endKey()
				}
			}
			continue
		}
		top := len(s.stack) - 1
		switch c {
		case '{':
			s.stack = append(s.stack, scanFrame{object: true, wantKey: true})
		case '[':
			s.stack = append(s.stack, scanFrame{})
		case '}', ']':
			if top >= 0 {
				s.stack = s.stack[:top]
			}
		case ',':
			if top >= 0 && s.stack[top].object {
				s.stack[top].wantKey = true
			}
		case '"':
			s.inString = true
			if top >= 0 && s.stack[top].object && s.stack[top].wantKey {
				s.stack[top].wantKey = false
				s.inKey = true
				s.key = append(s.key[:0], c)
			}
		}
	}
	return len(p), nil
}

// endKey records the name just read in the innermost object.
func (s *fieldScanner) endKey() {
	if s.repeated || len(s.key) > maxKeyBytes {
		return
	}
	var name string
	if json.Unmarshal(s.key, &name) != nil {
		return
	}
	f := &s.stack[len(s.stack)-1]
	if f.keys == nil {
		f.keys = map[string]struct{}{}
	}
	k := foldName(name)
	if _, ok := f.keys[k]; ok {
		s.repeated, s.dup = true, name
		return
	}
	f.keys[k] = struct{}{}
}

// foldName maps a field name to the smallest rune of each rune's case
// folding orbit: two names fold alike exactly when encoding/json takes
// them for the same field.
func foldName(name string) string {
	out := make([]byte, 0, len(name))
	for _, r := range name {
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}
