package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseBundle(t *testing.T) {
	b, err := ParseBundle(bundleJSON(7))
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != 7 || !b.Created.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("bundle %+v", b)
	}
	var h []string
	if err := json.Unmarshal(b.Sections.Hotlist, &h); err != nil || len(h) != 1 {
		t.Fatalf("hotlist %s: %v", b.Sections.Hotlist, err)
	}
	if !bytes.Contains(b.Sections.EMV, []byte("A0000000031010")) || b.Sections.Limits == nil || b.Sections.Host == nil || b.Sections.Risk == nil {
		t.Fatalf("sections %+v", b.Sections)
	}
	// Sections are optional one by one.
	if b, err := ParseBundle([]byte(`{"version":1,"created":"2026-03-01T10:00:00+08:00","sections":{"hotlist":[]}}`)); err != nil || b.Sections.EMV != nil {
		t.Fatalf("hotlist only: %+v %v", b, err)
	}
}

func TestParseBundleRefuses(t *testing.T) {
	ok := `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`
	if _, err := ParseBundle([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"empty":             ``,
		"not an object":     `[1]`,
		"unknown member":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}},"extra":1}`,
		"unknown section":   `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{},"wifi":{}}}`,
		"other case":        `{"Version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"section case":      `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"EMV":{}}}`,
		"duplicate member":  `{"version":1,"version":2,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"duplicate deep":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{"a":1,"a":2}}}`,
		"version 0":         `{"version":0,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version negative":  `{"version":-3,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version fraction":  `{"version":1.5,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version string":    `{"version":"1","created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version huge":      `{"version":99999999999999999999,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"no version":        `{"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"no created":        `{"version":1,"sections":{"emv":{}}}`,
		"created not 3339":  `{"version":1,"created":"1 March 2026","sections":{"emv":{}}}`,
		"no sections":       `{"version":1,"created":"2026-03-01T10:00:00Z"}`,
		"sections empty":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{}}`,
		"sections null":     `{"version":1,"created":"2026-03-01T10:00:00Z","sections":null}`,
		"section null":      `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":null}}`,
		"hotlist object":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"hotlist":{}}}`,
		"emv array":         `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":[]}}`,
		"limits number":     `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"limits":5}}`,
		"trailing data":     ok + `{}`,
		"trailing garbage":  ok + `x`,
		"truncated":         ok[:len(ok)-1],
		"nested too deep":   `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}}`,
		"too large":         `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{"x":"` + strings.Repeat("a", MaxBundle) + `"}}}`,
		"invalid utf8 name": "{\"version\":1,\"created\":\"2026-03-01T10:00:00Z\",\"sections\":{\"emv\":{}},\"\xff\":1}",
	} {
		b, err := ParseBundle([]byte(in))
		if err == nil || b != nil || !errors.Is(err, ErrBadBundle) {
			t.Errorf("%s: %+v, %v", name, b, err)
		}
	}
	if _, err := ParseBundle(make([]byte, MaxBundle+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
}

// FuzzParseBundle: no input makes ParseBundle panic; what it accepts is
// within its rules and reads back the same from a re-encoding.
func FuzzParseBundle(f *testing.F) {
	f.Add(bundleJSON(1))
	f.Add(bundleJSON(2147483647))
	f.Add([]byte(`{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"hotlist":[]}}`))
	f.Add([]byte(`{"version":1,"created":"2026-03-01T10:00:00.123+08:00","sections":{"emv":{"a":[1,{"b":null}]},"limits":{}}}`))
	f.Add([]byte(`{"version":1,"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`))
	f.Add([]byte(`{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}} `))
	f.Add([]byte(`{"sections":{"risk":{"r":[[[[[[]]]]]]}},"created":"2026-03-01T10:00:00Z","version":3}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ParseBundle(in)
		if err != nil {
			if b != nil || !errors.Is(err, ErrBadBundle) {
				t.Fatalf("error %v with bundle %+v", err, b)
			}
			return
		}
		if b.Version < 1 || b.Created.IsZero() || len(in) > MaxBundle {
			t.Fatalf("accepted %+v", b)
		}
		s := b.Sections
		if s.EMV == nil && s.Risk == nil && s.Hotlist == nil && s.Host == nil && s.Limits == nil {
			t.Fatal("accepted a bundle without sections")
		}
		for _, raw := range []json.RawMessage{s.EMV, s.Risk, s.Hotlist, s.Host, s.Limits} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("section %q is not JSON", raw)
			}
		}
		again, err := json.Marshal(map[string]any{"version": b.Version, "created": b.Created.Format(time.RFC3339Nano), "sections": s})
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ParseBundle(again)
		if err != nil || b2.Version != b.Version || !b2.Created.Equal(b.Created) {
			t.Fatalf("re-encoded %s: %+v %v", again, b2, err)
		}
	})
}
